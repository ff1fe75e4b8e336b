"""Which metric (and app) a Prometheus alert is about, from its name and labels.

Alert names are matched on their words (CamelCase or snake_case), not spelled out one by one, so that
MetamonFactAccuracyLow, MetamonFactAccuracyDropping and a renamed MetamonFactAccuracyBudgetBurn all
map to fact_accuracy. Alerts about metamon itself (exporter down, stale evaluation, backlogs) map to None.
"""

import re
from collections.abc import Mapping

# (words that must all appear, words of which one must appear, metric): the first rule that fits wins.
NAME_RULES: tuple[tuple[frozenset[str], frozenset[str], str], ...] = (
    (frozenset({"fact", "accuracy"}), frozenset(), "fact_accuracy"),
    (frozenset({"guardrail"}), frozenset(), "guardrail_pass"),
    (frozenset(), frozenset({"latency", "sla", "duration", "slow"}), "latency"),
    (frozenset({"error"}), frozenset({"ratio", "rate", "spike"}), "error_ratio"),
    (frozenset({"cost"}), frozenset(), "cost"),
)
# metamon_anomaly_score's `signal` label, for anomaly alerts whose name does not say the metric.
ANOMALY_SIGNALS = {
    "error_ratio": "error_ratio",
    "latency_p95": "latency",
    "fact_accuracy": "fact_accuracy",
    "guardrail_pass": "guardrail_pass",
}
# The exporter folds apps beyond its label budget into "other": not an app the traces can be scoped to.
NOT_AN_APP = {"", "other", "all"}


def _words(name: str) -> set[str]:
    words = (w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+", name))
    return {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words}


def metric_for_name(alertname: str) -> str | None:
    words = _words(alertname)
    for required, any_of, metric in NAME_RULES:
        if required <= words and (not any_of or any_of & words):
            return metric
    return None


def alert_target(labels: Mapping[str, str]) -> tuple[str, str | None] | None:
    """(metric, app or None for the whole project) for an alert's labels; None when no metric fits."""
    metric = metric_for_name(labels.get("alertname", "")) or ANOMALY_SIGNALS.get(labels.get("signal", ""))
    if metric is None:
        return None
    app = labels.get("app", "")
    return metric, None if app in NOT_AN_APP else app
