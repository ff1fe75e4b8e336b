"""Usage counters: each trace counted once, in its ingest transaction, correct under several workers."""

import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from metamon.monitoring.db.models import Project, UsageCounter
from metamon.monitoring.db.session import session_scope
from tests.conftest import METAMON, free_port
from tests.monitoring.api.routes.test_traces import trace


def counters(database_url: str, project: str) -> dict[tuple[str, str, str], UsageCounter]:
    with session_scope(database_url) as session:
        rows = session.scalars(select(UsageCounter).join(Project).where(Project.slug == project)).all()
        session.expunge_all()
        return {(r.app, r.model, r.status): r for r in rows}


def test_each_trace_counts_once_with_tokens_cost_latency_and_sla(client, make_key, database_url, settings):
    headers = make_key("usage-1")
    batch = [
        trace(1, latency_seconds=0.3),
        trace(2, latency_seconds=2.5),  # over the default 2 s SLA
        trace(3, status="error", error_type="Timeout", latency_seconds=30.5),
        # No cost: tokens x the gpt-4o price table (0.0025 in, 0.01 out per 1,000).
        trace(4, cost_usd=None, input_tokens=1000, output_tokens=500, latency_seconds=None),
    ]
    assert client.post("/api/v1/traces", json={"traces": batch}, headers=headers).status_code == 200
    # Re-sending the same traces updates them and counts nothing again.
    assert client.post("/api/v1/traces", json={"traces": batch}, headers=headers).status_code == 200

    rows = counters(database_url, "usage-1")
    ok, error = rows[("support-bot", "gpt-4o", "ok")], rows[("support-bot", "gpt-4o", "error")]
    assert (ok.requests, error.requests) == (3, 1)
    assert (ok.sla_violations, error.sla_violations) == (1, 1)
    assert (ok.input_tokens, ok.output_tokens) == (1200, 540)
    assert abs(ok.cost_usd - (0.001 + 0.001 + 0.0025 + 0.005)) < 1e-9
    # Cumulative buckets over [0.1, 0.25, 0.5, 1, 2, 5, 10, 30]; the untimed trace is not in the histogram.
    assert settings.usage.latency_buckets_seconds == [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]
    assert ok.latency_buckets == [0, 0, 1, 1, 1, 2, 2, 2]
    assert (ok.latency_count, ok.latency_sum) == (2, 2.8)
    assert error.latency_buckets == [0] * 8 and error.latency_count == 1

    client.post("/api/v1/traces", json={"traces": [trace(5, latency_seconds=0.05)]}, headers=headers)
    ok = counters(database_url, "usage-1")[("support-bot", "gpt-4o", "ok")]
    assert ok.requests == 4 and ok.latency_buckets == [1, 1, 2, 2, 2, 3, 3, 3]


def test_an_otlp_trace_counts_once_when_its_root_span_arrives(client, make_key, database_url):
    headers = make_key("usage-otlp", scopes=("ingest",))
    trace_id = "0af7651916cd43dd8448eb211c80319c"

    def span(span_id: str, parent: str | None, start: int, end: int) -> dict:
        attributes = [{"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}}]
        return {
            "traceId": trace_id,
            "spanId": span_id,
            **({"parentSpanId": parent} if parent else {}),
            "name": "llm" if parent else "chain",
            "startTimeUnixNano": str(start),
            "endTimeUnixNano": str(end),
            "attributes": attributes,
        }

    def export(*spans: dict) -> None:
        body = {"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}
        response = client.post("/v1/traces", json=body, headers=headers)
        assert response.status_code == 200, response.text

    export(span("b7ad6b7169203331", "00f067aa0ba902b7", 1_700_000_000_100_000_000, 1_700_000_000_900_000_000))
    assert counters(database_url, "usage-otlp") == {}
    export(span("00f067aa0ba902b7", None, 1_700_000_000_000_000_000, 1_700_000_001_500_000_000))
    export(span("00f067aa0ba902b7", None, 1_700_000_000_000_000_000, 1_700_000_001_500_000_000))
    rows = counters(database_url, "usage-otlp")
    summary = [(key, r.requests, r.latency_count) for key, r in rows.items()]
    assert summary == [(("default", "gpt-4o", "ok"), 1, 1)]


def test_several_api_workers_count_every_trace_exactly_once(make_key, settings):
    headers = make_key("usage-workers", scopes=("ingest",))
    port = free_port()
    env = {**os.environ, "METAMON_DATABASE_URL": settings.database.url, "METAMON_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([METAMON, "serve", "--port", str(port), "--workers", "3"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code in (200, 503):
                    break
            except httpx.TransportError:
                time.sleep(0.2)

        def send(i: int) -> int:
            # Overlapping batches: every trace id is sent by two requests.
            batch = [trace(j, app=f"app-{j % 3}") for j in range(i * 25, i * 25 + 50)]
            response = httpx.post(f"{url}/api/v1/traces", json={"traces": batch}, headers=headers, timeout=30)
            return response.status_code

        with ThreadPoolExecutor(12) as pool:
            assert set(pool.map(send, range(40))) == {200}
    finally:
        server.terminate()
        server.wait(10)
    rows = counters(settings.database.url, "usage-workers")
    assert sum(r.requests for r in rows.values()) == 40 * 25 + 25  # distinct ids 0..1024
    assert {app: r.requests for (app, _, _), r in rows.items()} == {"app-0": 342, "app-1": 342, "app-2": 341}


def test_a_trace_far_older_than_its_arrival_counts_as_backfill(client, make_key, database_url, settings):
    headers = make_key("usage-backfill")
    now = datetime.now(UTC)
    late = now - timedelta(seconds=settings.usage.backfill_after_seconds + 60)
    recent = now - timedelta(seconds=settings.usage.backfill_after_seconds - 60)
    batch = [trace(1, timestamp=late.isoformat()), trace(2, timestamp=recent.isoformat()), trace(3)]
    assert client.post("/api/v1/traces", json={"traces": batch}, headers=headers).status_code == 200
    with session_scope(database_url) as session:
        rows = session.execute(
            select(UsageCounter.backfill, UsageCounter.requests)
            .join(Project)
            .where(Project.slug == "usage-backfill")
        ).all()
    # trace() is dated days ago: a backfill too; only the trace within the limit is live.
    assert sorted(rows) == [(False, 1), (True, 2)]
