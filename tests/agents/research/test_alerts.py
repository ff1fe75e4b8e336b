"""Alert names and labels -> (metric, app)."""

import pytest

from metamon.agents.research.alerts import alert_target


@pytest.mark.parametrize(
    ("alertname", "metric"),
    [
        ("MetamonFactAccuracyLow", "fact_accuracy"),
        ("MetamonFactAccuracyCritical", "fact_accuracy"),
        ("MetamonFactAccuracyDropping", "fact_accuracy"),
        ("MetamonFactAccuracyBudgetBurn", "fact_accuracy"),
        ("MetamonGuardrailPassRateLow", "guardrail_pass"),
        ("MetamonGuardrailsFailing", "guardrail_pass"),
        ("MetamonLatencySLOBurnFast", "latency"),
        ("MetamonLatencySLOBurnSlow", "latency"),
        ("MetamonSLAViolationsHigh", "latency"),
        ("MetamonErrorRatioSpike", "error_ratio"),
        ("MetamonHighErrorRate", "error_ratio"),
        ("MetamonLLMCostHigh", "cost"),
        ("metamon_llm_cost_high", "cost"),
        ("MetamonEvaluationStale", None),
        ("MetamonExporterDown", None),
        ("MetamonExporterScrapeErrors", None),
        ("MetamonIndexBacklogHigh", None),
        ("MetamonReviewBacklogHigh", None),
        ("", None),
    ],
)
def test_alert_names_map_to_metrics(alertname, metric):
    target = alert_target({"alertname": alertname, "app": "support-bot", "severity": "high"})
    assert target == (None if metric is None else (metric, "support-bot"))


def test_anomaly_alerts_take_the_metric_from_their_signal():
    labels = {"alertname": "MetamonAnomalyScoreHigh", "app": "support-bot"}
    assert alert_target(labels | {"signal": "latency_p95"}) == ("latency", "support-bot")
    assert alert_target(labels | {"signal": "guardrail_pass"}) == ("guardrail_pass", "support-bot")
    assert alert_target(labels) is None


def test_alerts_without_a_real_app_cover_the_whole_project():
    assert alert_target({"alertname": "MetamonErrorRatioSpike"}) == ("error_ratio", None)
    assert alert_target({"alertname": "MetamonErrorRatioSpike", "app": "other"}) == ("error_ratio", None)
