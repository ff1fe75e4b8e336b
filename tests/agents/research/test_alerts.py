"""Alert labels -> (metric, app): a lookup of the `metric` label, never a reading of the alert's name."""

import pytest

from metamon.agents.research.alerts import alert_target
from metamon.monitoring.catalogue import METRICS


@pytest.mark.parametrize("metric", list(METRICS))
def test_the_metric_label_names_the_metric(metric):
    labels = {"alertname": "AnyNameAtAll", "metric": metric, "app": "support-bot", "severity": "high"}
    assert alert_target(labels) == (metric, "support-bot")


@pytest.mark.parametrize(
    "labels",
    [
        # A name that reads like a metric says nothing without the label.
        {"alertname": "MetamonFactAccuracyLow"},
        {"alertname": "MetamonErrorRatioSpike", "signal": "error_ratio"},
        # Alerts about metamon itself carry no metric.
        {"alertname": "MetamonExporterDown", "severity": "critical"},
        # An unknown metric is not guessed at.
        {"alertname": "MetamonFactAccuracyLow", "metric": "fact-accuracy"},
        {},
    ],
)
def test_alerts_without_a_known_metric_label_map_to_nothing(labels):
    assert alert_target(labels) is None


def test_alerts_without_a_real_app_cover_the_whole_project():
    assert alert_target({"metric": "error_ratio"}) == ("error_ratio", None)
    assert alert_target({"metric": "error_ratio", "app": "other"}) == ("error_ratio", None)
    assert alert_target({"metric": "error_ratio", "app": "all"}) == ("error_ratio", None)
