"""Which segment explains the failures, and which were ruled out and why.

A suspect is a tested segment (a value or a pair) that fails more often than its reference. It is a
cause only when all of these hold, m being the number of segments tested (singles and pairs:
Bonferroni, so that noise alone never names a cause):
1. against its reference (own baseline, whole baseline or rest of window), p < significance / m;
2. where the failures are: a value that covers part of the window fails more than the rest of the
   window (p < significance / m); a value that serves (nearly) the whole window cannot be told from
   time, so it must have come in at the failures' onset: one that predates it is never the cause;
3. it explains at least MIN_EXPLAINED of the window's excess failures.
Causes are ranked by share of the window's failures x lift: a segment must both hold many of the
failures and fail far more than it used to. Ties go to the more actionable dimension.
"""

from dataclasses import dataclass

from metamon.agents.research import confidence as conf
from metamon.agents.research.counterfactual import counterfactual
from metamon.agents.research.dimensions import order
from metamon.agents.research.onset import Onset, introduced
from metamon.agents.research.segments import Segment, SegmentAnalysis

# Covering this share of the window, a value is indistinguishable from the window itself.
NEAR_WHOLE = 0.9
MIN_EXPLAINED = 0.25
# Ruled-out suspects listed on the proposal.
RULED_OUT_LISTED = 10


@dataclass(frozen=True)
class Verdict:
    segment: Segment
    p_corrected: float
    explained: float
    onset_explained: bool
    introduced_at: str | None
    confidence: dict
    why_not: str | None = None

    def as_dict(self) -> dict:
        s = self.segment
        return {
            "dimension": s.dimension,
            "value": s.value,
            "segment": s.where,
            "window_traces": s.window.n,
            "window_failure_rate": round(s.window.rate, 6),
            "reference": s.reference,
            "reference_failure_rate": None if s.reference_rate is None else round(s.reference_rate, 6),
            "rest_of_window_failure_rate": None if s.rest_rate is None else round(s.rest_rate, 6),
            "lift": round(s.lift or 0.0, 6),
            "share_of_failures": round(s.share, 6),
            "share_of_window": round(s.coverage, 6),
            "p_value_corrected": min(1.0, self.p_corrected),
            "explained_share_of_excess_failures": round(self.explained, 6),
            "introduced_at": self.introduced_at,
            "onset_explained": self.onset_explained,
            "confidence": self.confidence["value"],
            "score": round(score(s), 6),
            **({"ruled_out_because": self.why_not} if self.why_not else {}),
        }


@dataclass(frozen=True)
class Ranking:
    causes: list[Verdict]
    ruled_out: list[Verdict]
    tested: int
    # The per-test p-value threshold after the correction.
    threshold: float
    # Why there is no cause (None when there is one).
    why_none: str | None = None


def score(segment: Segment) -> float:
    return segment.share * (segment.lift or 0.0)


def excess_failures(analysis: SegmentAnalysis, min_samples: int) -> float:
    """Failures in the window beyond what the baseline's rate predicts (all of them without a baseline)."""
    w = analysis.window
    if analysis.baseline.n >= min_samples and w.failures > w.n * analysis.baseline.rate:
        return w.failures - w.n * analysis.baseline.rate
    return float(w.failures)


def judge(
    analysis: SegmentAnalysis,
    segment: Segment,
    *,
    m: int,
    significance: float,
    min_samples: int,
    onset: Onset,
    changes: dict,
) -> Verdict:
    came_in = introduced(segment, changes)
    expected = counterfactual(analysis.metric, analysis, segment, min_samples)
    saved = expected.improvement * analysis.window.n
    explained = saved / max(excess_failures(analysis, min_samples), 1e-9)
    partial = segment.coverage < NEAR_WHOLE and segment.within_p_value is not None
    p = max(segment.p_value, segment.within_p_value if partial else 0.0) * m
    onset_explained = onset.aligned(came_in) or (partial and segment.reference == "value_baseline")
    why = None
    if segment.p_value * m >= significance:
        why = f"not significant against its reference (corrected p={min(1.0, segment.p_value * m):.3g})"
    elif not partial:
        if not onset.aligned(came_in):
            when = "before" if onset.predates(came_in) else "after"
            why = (
                f"serves {segment.coverage:.0%} of the window and came in {when} the failures began "
                f"({came_in.isoformat() if came_in else 'unknown'} vs onset {onset.at.isoformat()}): "
                "it cannot be told apart from time"
            )
    elif segment.window.rate <= (segment.rest_rate or 0.0) or segment.within_p_value * m >= significance:
        why = (
            f"fails no more than the rest of the window ({segment.window.rate:.1%} vs "
            f"{segment.rest_rate:.1%}, corrected p={min(1.0, segment.within_p_value * m):.3g})"
        )
    if why is None and explained < MIN_EXPLAINED:
        why = f"explains only {explained:.0%} of the excess failures"
    confidence = conf.score(
        explained=explained,
        p_corrected=p,
        significance=significance,
        onset_explained=onset_explained,
        failures=segment.window.failures,
        min_samples=min_samples,
    )
    return Verdict(
        segment,
        p,
        min(max(explained, 0.0), 1.0),
        onset_explained,
        came_in.isoformat() if came_in else None,
        confidence,
        why,
    )


def rank(
    analysis: SegmentAnalysis,
    pairs_tested: list[Segment],
    pairs_kept: list[Segment],
    *,
    significance: float,
    min_samples: int,
    onset: Onset,
    changes: dict,
) -> Ranking:
    singles = analysis.tested()
    m = len(singles) + len(pairs_tested)
    threshold = significance / max(m, 1)
    if analysis.window.failures == 0:
        return Ranking([], [], m, threshold, "no failures in the window")
    if not singles:
        return Ranking(
            [],
            [],
            0,
            threshold,
            f"no segment could be tested: none has {min_samples} traces in the window and a reference "
            f"(window {analysis.window.n} traces, baseline {analysis.baseline.n})",
        )
    suspects = [
        s for s in singles + pairs_kept if s.reference_rate is not None and s.window.rate > s.reference_rate
    ]
    verdicts = sorted(
        (
            judge(
                analysis,
                s,
                m=m,
                significance=significance,
                min_samples=min_samples,
                onset=onset,
                changes=changes,
            )
            for s in suspects
        ),
        key=lambda v: (-score(v.segment), order(v.segment.parts[0][0]), v.segment.dimension, v.segment.value),
    )
    causes = [v for v in verdicts if v.why_not is None]
    ruled_out = [v for v in verdicts if v.why_not is not None][:RULED_OUT_LISTED]
    if causes:
        return Ranking(causes, ruled_out, m, threshold)
    if not verdicts:
        why = f"no segment fails more than its reference among {m} tested"
    else:
        best = verdicts[0]
        why = (
            f"nothing explains the failures among {m} segments tested: the strongest, "
            f"{best.segment.dimension}={best.segment.value} ({best.segment.window.rate:.1%} vs "
            f"{best.segment.reference_rate:.1%}), is ruled out: {best.why_not}"
        )
    return Ranking([], ruled_out, m, threshold, why)
