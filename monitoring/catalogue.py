"""The metric catalogue: every quality measure metamon computes, and every metric it alerts on and
researches, defined once. Evaluation runs, research, the exporter, the digest, the rule generator and the
dashboards read their names, units and labels from here (a test walks them so no list is spelled twice).

Two kinds, because not every measure of a window is something a trace can fail:
- a `Measure` is a column of an evaluation run, published as one exporter gauge and charted in the digest;
- a `Metric` is what an alert is about: the measure that shows it, the traces research counts as failing,
  the thresholds.yaml keys of its alerts and the labels those alerts carry (`metric`: its name).
"""

from dataclasses import dataclass
from typing import Literal

# Alert severities, most urgent first (the alert table's check constraint, the rules, the dashboards).
SEVERITIES = ("critical", "high", "medium", "low", "info")

# The monitor agent's signals (metamon_anomaly_score's `signal` label) and which way is worse: True when a
# higher value is a degradation. Each belongs to the metric whose `signals` name it.
SIGNALS = {
    "error_ratio": True,
    "latency_p95": True,
    "sla_violation_ratio": True,
    "fact_accuracy": False,
    "guardrail_pass": False,
}

Format = Literal["ratio", "usd", "seconds"]
MISSING = "—"


@dataclass(frozen=True)
class Measure:
    column: str  # evaluation_runs column
    family: str  # exporter gauge (labels project, app, model, domain)
    title: str  # human label
    help: str  # exporter HELP and dashboard description
    ylabel: str  # the digest chart's axis
    format: Format
    digest: bool = True  # charted in the daily digest
    higher_is_better: bool = True  # which end of the scale is the worst app (the digest charts those)

    def show(self, value: float | None) -> str:
        if value is None:
            return MISSING
        if self.format == "ratio":
            return f"{value:.1%}"
        if self.format == "usd":
            return f"${value:.4f}"
        return f"{value:.2f} s"


MEASURES: tuple[Measure, ...] = (
    Measure(
        "fact_accuracy",
        "metamon_fact_accuracy_ratio",
        "Fact accuracy",
        "Share of reference facts stated correctly (or claims grounded in the retrieved context).",
        "share of facts supported",
        "ratio",
    ),
    Measure(
        "guardrail_pass_rate",
        "metamon_guardrail_pass_ratio",
        "Guardrail pass rate",
        "Share of traces passing every guardrail (PII, refusals, schema, banned terms, injection echoes).",
        "share of traces passing",
        "ratio",
    ),
    Measure(
        "sla_compliance",
        "metamon_sla_compliance_ratio",
        "SLA compliance",
        "Share of traces within their app's latency SLA and not in error.",
        "share within latency SLA",
        "ratio",
    ),
    Measure(
        "error_rate",
        "metamon_error_ratio",
        "Error rate",
        "Share of traces that ended in error.",
        "share of requests failing",
        "ratio",
        higher_is_better=False,
    ),
    Measure(
        "cost_per_request_usd",
        "metamon_cost_per_request_dollars",
        "Cost per request",
        "Mean LLM cost per request in US dollars.",
        "USD per request",
        "usd",
        higher_is_better=False,
    ),
    # Quantiles as plain gauges: a `quantile` label is reserved for summaries.
    Measure(
        "latency_p50_seconds",
        "metamon_window_latency_p50_seconds",
        "Latency p50",
        "Median latency of the latest window.",
        "seconds",
        "seconds",
        digest=False,
        higher_is_better=False,
    ),
    Measure(
        "latency_p95_seconds",
        "metamon_window_latency_p95_seconds",
        "Latency p95",
        "95th percentile latency of the latest window.",
        "seconds",
        "seconds",
        higher_is_better=False,
    ),
    Measure(
        "expert_agreement",
        "metamon_expert_agreement_ratio",
        "Agreement with experts",
        "Share of expert-labelled traces where the evaluators' verdict matches the label.",
        "share of labels agreed with",
        "ratio",
        digest=False,
    ),
)
MEASURE = {m.column: m for m in MEASURES}


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # human label, in running text
    # The traces research counts as failing: those whose `evaluator` scored passed=false; None: the
    # trace's own status='error' (every trace counts).
    evaluator: str | None
    # maximize: the metric is the pass ratio (1 - failure rate); minimize: it is the failure rate.
    direction: Literal["maximize", "minimize"]
    unit: str  # what a failure rate reads as, in the metric's terms
    measure: Measure  # the evaluation-run measure that shows it
    thresholds: tuple[str, ...]  # thresholds.yaml keys (levels.*, slo.*) of its alerts
    signals: tuple[str, ...]  # the SIGNALS that watch it

    @property
    def alert_labels(self) -> dict[str, str]:
        """The labels every alert about this metric carries: the alert-to-metric mapping is this lookup."""
        return {"metric": self.name}

    def value(self, failure_rate: float) -> float:
        return 1.0 - failure_rate if self.direction == "maximize" else failure_rate


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "fact_accuracy",
            "fact accuracy",
            "fact_accuracy",
            "maximize",
            "share of traces passing",
            MEASURE["fact_accuracy"],
            ("levels.fact_accuracy", "levels.fact_accuracy_drop"),
            ("fact_accuracy",),
        ),
        Metric(
            "guardrail_pass",
            "guardrail pass rate",
            "guardrails",
            "maximize",
            "share of traces passing",
            MEASURE["guardrail_pass_rate"],
            ("levels.guardrail_pass",),
            ("guardrail_pass",),
        ),
        Metric(
            "latency",
            "latency SLA compliance",
            "sla",
            "maximize",
            "share of traces within the SLA",
            MEASURE["sla_compliance"],
            ("slo.latency",),
            ("latency_p95", "sla_violation_ratio"),
        ),
        Metric(
            "error_ratio",
            "error ratio",
            None,
            "minimize",
            "share of traces in error",
            MEASURE["error_rate"],
            ("levels.error_ratio",),
            ("error_ratio",),
        ),
        Metric(
            "cost",
            "cost",
            "cost",
            "minimize",
            "share of traces over the cost budget",
            MEASURE["cost_per_request_usd"],
            ("levels.llm_cost_dollars_per_hour",),
            (),
        ),
    )
}


def get_metric(name: str) -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


def metric_of_signal(signal: str) -> Metric:
    return next(m for m in METRICS.values() if signal in m.signals)
