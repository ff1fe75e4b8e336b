"""The real Prometheus scrapes the real `metamon exporter` process, and the series come back through
Prometheus' HTTP API with the values stored in PostgreSQL."""

import pytest

from tests.live import exporter, prometheus, query, wait_for
from tests.populated import PROJECT


def test_prometheus_scrapes_the_exporter_and_answers_queries(settings, populated, tmp_path):
    with exporter(settings.database.url, tmp_path, exporter_cache_seconds="0") as target:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "metamon-exporter", "static_configs": [{"targets": [target]}]}],
        }
        with prometheus(config, tmp_path) as url:
            up = wait_for(lambda: query(url, 'up{job="metamon-exporter"} == 1'))
            assert up, "Prometheus never saw the exporter up"
            requests = wait_for(
                lambda: query(url, f'sum by (status) (metamon_requests_total{{project="{PROJECT}"}})')
            )
            assert {r["metric"]["status"]: float(r["value"][1]) for r in requests} == {
                "ok": 7.0,
                "error": 1.0,
            }
            accuracy = query(
                url, f'metamon_fact_accuracy_ratio{{project="{PROJECT}",app="support-bot",model="all"}}'
            )
            assert float(accuracy[0]["value"][1]) == pytest.approx(populated["app_run"].fact_accuracy)
            assert accuracy[0]["metric"]["job"] == "metamon-exporter"
            buckets = f'metamon_request_duration_seconds_bucket{{project="{PROJECT}"}}'
            p50 = query(url, f"histogram_quantile(0.5, sum by (le) ({buckets}))")
            assert 0.25 < float(p50[0]["value"][1]) <= 0.5
