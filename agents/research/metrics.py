"""What 'failure' means for each alerted metric, and how a failure rate reads in the metric's units."""

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    # The evaluator whose passed=false marks a failing trace; None: the trace's own status='error'.
    evaluator: str | None
    # maximize: the metric is the pass ratio (1 - failure rate); minimize: it is the failure rate.
    direction: Literal["maximize", "minimize"]
    unit: str

    def value(self, failure_rate: float) -> float:
        return 1.0 - failure_rate if self.direction == "maximize" else failure_rate


METRICS = {
    m.name: m
    for m in (
        Metric("fact_accuracy", "fact accuracy", "fact_accuracy", "maximize", "share of traces passing"),
        Metric("guardrail_pass", "guardrail pass rate", "guardrails", "maximize", "share of traces passing"),
        Metric("latency", "latency SLA compliance", "sla", "maximize", "share of traces within the SLA"),
        Metric("error_ratio", "error ratio", None, "minimize", "share of traces in error"),
        Metric("cost", "cost", "cost", "minimize", "share of traces over the cost budget"),
    )
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None
