"""A backfill pages nothing, live: the real API counts traces dated a week ago apart, the real exporter
publishes them as metamon_backfilled_requests_total, and the real Prometheus on the fast rules fires the
rate alerts for the same burst sent live, never for the backfill."""

import time
from datetime import UTC, datetime, timedelta

from tests.live import FAST_RULES, exporter, prometheus, query, wait_for

OLD, LIVE = "backfill-old", "backfill-live"
RATE_ALERTS = {"MetamonErrorRatioSpike", "MetamonLLMCostHigh", "MetamonLatencyBudgetBurn"}


def _traces(prefix: str, when: datetime, n: int, **fields) -> list[dict]:
    return [
        {
            "id": f"{prefix}-{i}",
            "timestamp": when.isoformat(),
            "app": "support-bot",
            "model": "gpt-4o",
            **fields,
        }
        for i in range(n)
    ]


def test_a_backfill_of_failing_costly_slow_traces_pages_nothing_while_the_same_burst_live_does(
    settings, client, make_key, tmp_path
):
    headers = {project: make_key(project, scopes=("ingest",)) for project in (OLD, LIVE)}

    def send(project: str, traces: list[dict]) -> None:
        response = client.post("/api/v1/traces", json={"traces": traces}, headers=headers[project])
        assert response.status_code == 200, response.text

    now = datetime.now(UTC)
    # Live traffic first, so that every counter series exists before the burst (rate() needs two samples).
    for project in (OLD, LIVE):
        send(project, _traces(f"{project}-ok", now, 20, latency_seconds=0.2, cost_usd=0.001))
        send(project, _traces(f"{project}-err", now, 1, status="error", latency_seconds=9.0, cost_usd=0.001))

    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(FAST_RULES)],
        "scrape_configs": [],
    }
    with exporter(settings.database.url, tmp_path, exporter_cache_seconds="0") as target:
        config["scrape_configs"] = [
            {"job_name": "metamon-exporter", "static_configs": [{"targets": [target]}]}
        ]
        with prometheus(config, tmp_path) as url:
            seen = f'metamon_requests_total{{project=~"{OLD}|{LIVE}"}}'
            assert wait_for(lambda: len(query(url, seen)) == 4, timeout=30)
            time.sleep(3)

            # One burst of failing, slow, costly traces: dated a week ago in one project, now in the other.
            burst = {"status": "error", "latency_seconds": 30.0, "cost_usd": 5.0}
            send(OLD, _traces(f"{OLD}-burst", now - timedelta(days=7), 200, **burst))
            send(LIVE, _traces(f"{LIVE}-burst", datetime.now(UTC), 200, **burst))

            def firing(project: str) -> set[str]:
                found = query(url, f'ALERTS{{alertstate="firing", project="{project}"}}')
                return {a["metric"]["alertname"] for a in found}

            assert wait_for(lambda: firing(LIVE) >= RATE_ALERTS, timeout=60), firing(LIVE)
            # Nothing about the backfilled project was ever even pending, though Prometheus has its traces.
            assert query(url, f'count_over_time(ALERTS{{project="{OLD}"}}[5m])') == []
            backfilled = query(url, f'sum(metamon_backfilled_requests_total{{project="{OLD}"}})')
            assert float(backfilled[0]["value"][1]) == 200
            # The live error counter still holds the one live error only.
            errors = query(url, f'sum(metamon_requests_total{{project="{OLD}", status="error"}})')
            assert float(errors[0]["value"][1]) == 1
