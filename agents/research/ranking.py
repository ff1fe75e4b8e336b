"""Which segment explains the failures.

Rule: a candidate is a tested segment that fails more often than its reference with a p-value below
`significance / m`, m being the number of segments tested (Bonferroni: about thirty values are tested per
alert, and without the correction noise alone would name a cause). Candidates are ranked by
share of the window's failures x lift: a segment must both hold many of the failures and fail far more
than it used to; a whole-scope segment (share 1) only wins when nothing narrower fails much harder.
Ties go to the more actionable dimension (the order of `sql.DIMENSIONS`).
"""

from dataclasses import dataclass

from metamon.agents.research.segments import Segment, SegmentAnalysis
from metamon.agents.research.sql import DIMENSIONS

DIMENSION_ORDER = {name: i for i, name in enumerate(DIMENSIONS)}


@dataclass(frozen=True)
class Ranking:
    candidates: list[Segment]
    tested: int
    # The per-test p-value threshold after the correction.
    threshold: float
    # Why there is no candidate (None when there is one).
    why_none: str | None = None


def score(segment: Segment) -> float:
    return segment.share * (segment.lift or 0.0)


def rank(analysis: SegmentAnalysis, significance: float, min_samples: int) -> Ranking:
    tested = analysis.tested()
    threshold = significance / max(len(tested), 1)
    if analysis.window.failures == 0:
        return Ranking([], len(tested), threshold, "no failures in the window")
    if not tested:
        return Ranking(
            [],
            0,
            threshold,
            f"no segment could be tested: none has {min_samples} traces in the window and a reference "
            f"(window {analysis.window.n} traces, baseline {analysis.baseline.n})",
        )
    worse = [s for s in tested if s.reference_rate is not None and s.window.rate > s.reference_rate]
    candidates = sorted(
        (s for s in worse if s.p_value < threshold),
        key=lambda s: (-score(s), DIMENSION_ORDER[s.dimension], s.value),
    )
    if candidates:
        return Ranking(candidates, len(tested), threshold)
    best = min(worse or tested, key=lambda s: s.p_value)
    return Ranking(
        [],
        len(tested),
        threshold,
        f"no segment is significant among {len(tested)} tested: the strongest, {best.dimension}={best.value} "
        f"({best.window.rate:.1%} vs {best.reference_rate:.1%}), has p={best.p_value:.3g} "
        f"above the corrected threshold {threshold:.3g}",
    )
