"""Expected improvement: the window's metric had the top segment failed at its usual rate.

The usual rate is the segment's own baseline failure rate when it has enough baseline traces, else the
rest of the window's (a value new in the window is compared with what served alongside it), else the
whole baseline's (a value that served the entire window)."""

from dataclasses import asdict, dataclass

from metamon.agents.research.metrics import Metric
from metamon.agents.research.segments import Segment, SegmentAnalysis


@dataclass(frozen=True)
class Counterfactual:
    metric_now: float
    metric_if_fixed: float
    # In the metric's units, positive = better (higher pass ratio, lower error/over-budget ratio).
    improvement: float
    # (if_fixed - now) / now: signed like the metric moves (an error ratio falling is negative).
    relative_change: float | None
    segment_failure_rate: float
    assumed_failure_rate: float
    assumed_from: str

    def as_dict(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


def counterfactual(
    metric: Metric, analysis: SegmentAnalysis, segment: Segment, min_samples: int
) -> Counterfactual:
    rest = analysis.window - segment.window
    if segment.baseline.n >= min_samples:
        assumed, source = segment.baseline.rate, "segment_baseline"
    elif rest.n >= min_samples:
        assumed, source = rest.rate, "rest_of_window"
    else:
        assumed, source = analysis.baseline.rate, "overall_baseline"
    # Never credit a change with making the segment worse than it is.
    assumed = min(assumed, segment.window.rate)
    total = analysis.window
    failures_if_fixed = total.failures - segment.window.failures + segment.window.n * assumed
    now, if_fixed = metric.value(total.rate), metric.value(failures_if_fixed / total.n)
    return Counterfactual(
        metric_now=now,
        metric_if_fixed=if_fixed,
        improvement=total.rate - failures_if_fixed / total.n,
        relative_change=(if_fixed - now) / now if now else None,
        segment_failure_rate=segment.window.rate,
        assumed_failure_rate=assumed,
        assumed_from=source,
    )
