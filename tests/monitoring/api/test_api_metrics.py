"""The API's own metrics across uvicorn's worker processes: `metamon serve --workers 2` as the stack runs
it, each scrape answered by either worker with the sum of both."""

import os
import signal
import subprocess
import time
from collections import Counter

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from metamon.monitoring.db.session import POOL_OVERFLOW, POOL_SIZE
from tests.conftest import METAMON, free_port

pytestmark = pytest.mark.stack


def _samples(text: str) -> dict[tuple, float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _capacity(url: str) -> float | None:
    try:
        scrape = httpx.get(f"{url}/metrics/", timeout=5).text
    except httpx.HTTPError:
        return None
    return _samples(scrape).get(("metamon_api_db_connections_max", ()))


@pytest.fixture
def two_workers(database_url, tmp_path):
    port = free_port()
    env = {**os.environ, "METAMON_DATABASE_URL": database_url, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [METAMON, "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # two interpreters importing the app on a busy machine
    try:
        # Both workers are serving once the summed pool capacity is two workers'.
        while _capacity(url) != 2 * (POOL_SIZE + POOL_OVERFLOW):
            assert time.monotonic() < deadline and proc.poll() is None, "the API did not start"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def test_every_scrape_sums_both_workers(two_workers, make_key):
    headers = make_key("p-api-metrics", ("read",))
    with httpx.Client(base_url=two_workers, timeout=10) as http:
        for _ in range(10):
            assert http.get("/api/v1/proposals/stats", headers=headers).status_code == 200
            assert http.get("/api/v1/proposals/stats").status_code == 401
        scrapes = [_samples(http.get("/metrics/").text) for _ in range(6)]

    route = ("route", "/api/v1/proposals/stats")
    for samples in scrapes:
        assert samples[("metamon_api_requests_total", (("method", "GET"), route, ("status", "200")))] == 10
        assert samples[("metamon_api_requests_total", (("method", "GET"), route, ("status", "401")))] == 10
        assert samples[("metamon_api_request_duration_seconds_count", (("method", "GET"), route))] == 20
        # Gauges of both processes, summed.
        assert samples[("metamon_api_db_connections_in_use", ())] == 0
        assert samples[("metamon_api_requests_in_flight", (("method", "GET"), route))] == 0
        assert samples[("metamon_api_db_pool_wait_seconds_count", ())] >= 10  # the keys' lookups
    # Labels stay bounded: route templates only.
    routes = Counter(dict(labels).get("route") for (_, labels) in scrapes[0] if dict(labels).get("route"))
    assert set(routes) <= {"/api/v1/proposals/stats", "/api/v1/health", "/metrics"}
