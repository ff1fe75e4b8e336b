"""Which metric (and app) a Prometheus alert is about: its `metric` label, looked up in the catalogue.

metamon's generated rules label every alert about a metric (`metric: fact_accuracy`); a custom rule says
its metric the same way (see prometheus/RUNBOOK.md). An alert without a known `metric` label is about
metamon itself (exporter down, stale evaluation, backlogs) or about nothing research can explain: None.
"""

from collections.abc import Mapping

from metamon.monitoring.catalogue import METRICS

# The exporter folds apps beyond its label budget into "other": not an app the traces can be scoped to.
NOT_AN_APP = {"", "other", "all"}


def alert_target(labels: Mapping[str, str]) -> tuple[str, str | None] | None:
    """(metric, app or None for the whole project) for an alert's labels; None when it names no metric."""
    metric = labels.get("metric", "")
    if metric not in METRICS:
        return None
    app = labels.get("app", "")
    return metric, None if app in NOT_AN_APP else app
