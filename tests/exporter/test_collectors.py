"""What the collectors publish, read back from the exporter's own text output."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from metamon.exporter.app import build_registry
from metamon.monitoring.catalogue import MEASURES
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.outbox import enqueue_trace_index
from tests.populated import PROJECT


def samples(settings, **where) -> dict[tuple[str, frozenset], float]:
    text = generate_latest(build_registry(settings)).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if all(s.labels.get(k) == v for k, v in where.items())
    }


def value(found: dict, name: str, **labels) -> float:
    return found[(name, frozenset(labels.items()))]


def test_usage_counters_and_latency_histogram(settings, populated):
    found = samples(settings, project=PROJECT)
    bot = {"project": PROJECT, "app": "support-bot", "model": "gpt-4o"}
    assert value(found, "metamon_requests_total", **bot, status="ok") == 6
    assert value(found, "metamon_requests_total", **bot, status="error") == 1
    assert value(found, "metamon_tokens_total", **bot, direction="input") == 700
    assert value(found, "metamon_llm_cost_dollars_total", **bot) == pytest.approx(0.014)
    assert value(found, "metamon_sla_violations_total", project=PROJECT, app="support-bot") == 1
    app = {"project": PROJECT, "app": "support-bot"}
    assert value(found, "metamon_request_duration_seconds_bucket", **app, le="0.5") == 6
    assert value(found, "metamon_request_duration_seconds_bucket", **app, le="5.0") == 7
    assert value(found, "metamon_request_duration_seconds_count", **app) == 7
    assert value(found, "metamon_request_duration_seconds_sum", **app) == pytest.approx(6 * 0.4 + 3.0)


def test_quality_ratios_come_from_the_latest_window(settings, populated):
    found = samples(settings, project=PROJECT)
    run = populated["app_run"]
    scope = {"project": PROJECT, "app": "support-bot", "model": "all", "domain": "all"}
    assert value(found, "metamon_fact_accuracy_ratio", **scope) == pytest.approx(run.fact_accuracy)
    assert run.fact_accuracy == pytest.approx(6 / 7)
    assert value(found, "metamon_error_ratio", **scope) == pytest.approx(1 / 7)
    assert value(found, "metamon_sla_compliance_ratio", **scope) == pytest.approx(6 / 7)
    assert value(found, "metamon_evaluation_window_traces", **scope) == 7
    assert value(found, "metamon_window_latency_p50_seconds", **scope) == pytest.approx(0.4)
    per_model = {**scope, "model": "gpt-4o", "domain": "billing"}
    assert value(found, "metamon_fact_accuracy_ratio", **per_model) == pytest.approx(6 / 7)
    assert value(found, "metamon_evaluations_total", project=PROJECT, app="support-bot", evaluator="sla") == 7
    failures = value(
        found,
        "metamon_evaluation_failures_total",
        project=PROJECT,
        app="support-bot",
        evaluator="fact_accuracy",
    )
    assert failures == 1
    assert value(found, "metamon_evaluation_last_run_timestamp_seconds", project=PROJECT) > 1.7e9
    # One gauge family per measure of the metric catalogue (a measure without data has no sample).
    text = generate_latest(build_registry(settings)).decode()
    assert {m.family for m in MEASURES} <= {family.name for family in text_string_to_metric_families(text)}


def test_proposals_alerts_review_queue_and_anomalies(settings, populated):
    found = samples(settings, project=PROJECT)
    assert value(found, "metamon_improvement_proposals", project=PROJECT, status="pending") == 1
    assert value(found, "metamon_improvement_proposals", project=PROJECT, status="approved") == 0
    # The failing traces (a contradicted answer, an error) wait for review.
    assert value(found, "metamon_review_queue_traces", project=PROJECT) >= 2
    # Too little history for a verdict: scores are published as 0.
    assert (
        value(found, "metamon_anomaly_score", project=PROJECT, app="support-bot", signal="error_ratio") == 0
    )
    everywhere = samples(settings)
    assert value(everywhere, "metamon_open_alerts", severity="critical") >= 1
    assert value(everywhere, "metamon_monitor_last_run_timestamp_seconds") > 1.7e9


def test_label_values_are_capped_and_folded_into_other_without_losing_counts(
    settings, client, make_key, populated
):
    headers = make_key("exporter-cap", scopes=("ingest",))
    now = datetime.now(UTC).isoformat()
    batch = [
        {"id": f"c-{i}", "timestamp": now, "app": f"app-{i % 6}", "model": f"m-{i % 5}"} for i in range(60)
    ]
    assert client.post("/api/v1/traces", json={"traces": batch}, headers=headers).status_code == 200
    capped = settings.model_copy(update={"exporter_label_cap": 2})
    found = samples(capped)
    apps = {dict(labels)["app"] for name, labels in found if name == "metamon_requests_total"}
    models = {dict(labels)["model"] for name, labels in found if name == "metamon_requests_total"}
    assert len(apps) <= 3 and len(models) <= 3 and "other" in apps and "other" in models
    mine = [
        v
        for (name, labels), v in found.items()
        if name == "metamon_requests_total" and dict(labels)["project"] == "exporter-cap"
    ]
    assert sum(mine) == 60

    # A newcomer outweighing every kept app is folded into `other`: no counter series ever goes down.
    heavy = [{**trace, "id": f"h-{i}", "app": "late-heavy"} for i, trace in enumerate(batch * 2)]
    assert client.post("/api/v1/traces", json={"traces": heavy}, headers=headers).status_code == 200
    later = samples(capped)
    counters = [key for key in found if key[0].endswith(("_total", "_bucket", "_count", "_sum"))]
    assert counters and all(later[key] >= found[key] for key in counters)
    assert "late-heavy" not in {dict(labels).get("app") for _, labels in later}


def test_backfilled_traces_are_counted_apart_from_the_rates_that_page(settings, client, make_key):
    headers = make_key("exporter-backfill", scopes=("ingest",))
    now = datetime.now(UTC)
    old = (now - timedelta(seconds=settings.usage.backfill_after_seconds + 600)).isoformat()

    def batch(prefix: str, when: str, n: int, status: str) -> list[dict]:
        return [
            {
                "id": f"{prefix}-{i}",
                "timestamp": when,
                "app": "bot",
                "model": "gpt-4o",
                "status": status,
                "latency_seconds": 9.0,
                "cost_usd": 1.0,
            }
            for i in range(n)
        ]

    traces = (
        batch("live", now.isoformat(), 3, "ok")
        + batch("old", old, 40, "error")
        + batch("old-ok", old, 2, "ok")
    )
    assert client.post("/api/v1/traces", json={"traces": traces}, headers=headers).status_code == 200
    found = samples(settings, project="exporter-backfill")
    live = {"project": "exporter-backfill", "app": "bot"}
    assert value(found, "metamon_requests_total", **live, model="gpt-4o", status="ok") == 3
    assert (
        "metamon_requests_total",
        frozenset({**live, "model": "gpt-4o", "status": "error"}.items()),
    ) not in found
    assert value(found, "metamon_llm_cost_dollars_total", **live, model="gpt-4o") == pytest.approx(3.0)
    assert value(found, "metamon_sla_violations_total", **live) == 3
    assert value(found, "metamon_request_duration_seconds_count", **live) == 3
    assert value(found, "metamon_backfilled_requests_total", **live, status="error") == 40
    assert value(found, "metamon_backfilled_requests_total", **live, status="ok") == 2


def test_a_scrape_within_the_cache_ttl_does_not_query_again(settings, populated):
    registry = build_registry(settings.model_copy(update={"exporter_cache_seconds": 60}))
    first = generate_latest(registry).decode()
    # A change in the database is not visible until the cache expires.

    with session_scope(settings.database.url) as session:
        enqueue_trace_index(session, uuid.uuid4(), [uuid.uuid4()])
    second = generate_latest(registry).decode()
    assert without_duration(first) == without_duration(second)


def without_duration(text: str) -> list[str]:
    return [line for line in text.splitlines() if "scrape_duration" not in line]
