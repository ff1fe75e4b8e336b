"""The API's own Prometheus metrics (job "metamon-api"): requests, latency and in-flight requests per
route template, and the database pool's connections in use and checkout waits.

uvicorn runs several worker processes behind one port, so a scrape reaches one of them: `metamon serve`
points PROMETHEUS_MULTIPROC_DIR at a fresh folder before the workers start, each worker writes its
values there, and /metrics sums every worker's (prometheus_client's multiprocess mode). Without that
variable (one process: tests, `--workers 1`) the process's own registry is served.
"""

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import event

from metamon.monitoring.db.session import (
    POOL_OVERFLOW,
    POOL_SIZE,
    ObservedQueuePool,
    checkout_wait_observers,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Routes are labelled by template ("/api/v1/proposals/{proposal_id}"), anything else by this: bounded.
UNMATCHED = "unmatched"
# Finer below the 200 ms SLO the alert watches.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter("metamon_api_requests", "HTTP requests answered.", ["method", "route", "status"])
LATENCY = Histogram(
    "metamon_api_request_duration_seconds",
    "Time from a request's arrival to the end of its response.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
IN_FLIGHT = Gauge(
    "metamon_api_requests_in_flight",
    "Requests being served.",
    ["method", "route"],
    multiprocess_mode="livesum",
)
SHED = Counter(
    "metamon_api_requests_shed",
    "Requests refused with 503 because the worker had its limit of requests in flight.",
    ["method", "route"],
)
POOL_IN_USE = Gauge(
    "metamon_api_db_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
POOL_CAPACITY = Gauge(
    "metamon_api_db_connections_max",
    "Connections the pool may open (pool size plus overflow), summed over the workers.",
    multiprocess_mode="livesum",
)
POOL_WAIT = Histogram(
    "metamon_api_db_pool_wait_seconds",
    "Time a checkout waited for a pooled connection.",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)


def instrument_pools() -> None:
    """Count the connections in use and time the checkouts of every pool of this process (idempotent)."""
    if event.contains(ObservedQueuePool, "checkout", _checked_out):
        return
    event.listen(ObservedQueuePool, "checkout", _checked_out)
    event.listen(ObservedQueuePool, "checkin", _checked_in)
    checkout_wait_observers.append(POOL_WAIT.observe)
    POOL_CAPACITY.set(POOL_SIZE + POOL_OVERFLOW)


def _checked_out(*_) -> None:
    POOL_IN_USE.inc()


def _checked_in(*_) -> None:
    POOL_IN_USE.dec()


_LIVE_FILE = re.compile(r"gauge_live\w*_(\d+)\.db")


@contextmanager
def multiprocess_folder() -> Iterator[Path]:
    """For the life of a multi-worker server: PROMETHEUS_MULTIPROC_DIR set (for the workers it starts)
    to an empty folder, a fresh temporary one unless the variable names one already."""
    given = os.environ.get(MULTIPROC_ENV)
    folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="metamon-api-metrics-"))
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):  # a previous server's values are not this one's
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(folder)
    try:
        yield folder
    finally:
        if not given:
            shutil.rmtree(folder, ignore_errors=True)
            del os.environ[MULTIPROC_ENV]


def metrics_app():
    """The ASGI app serving /metrics: every worker's values summed, or this process's registry."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return make_asgi_app(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, folder)
    inner = make_asgi_app(registry)

    async def app(scope, receive, send):
        _forget_dead_workers(Path(folder))
        await inner(scope, receive, send)

    return app


def _forget_dead_workers(folder: Path) -> None:
    """A worker that died (crashed, or was replaced) leaves its gauges' file: drop the live-summed ones,
    or its in-flight requests and connections would be counted for ever. Counters and histograms keep
    its counts, as Prometheus expects of a counter."""
    for path in folder.glob("gauge_live*_*.db"):
        match = _LIVE_FILE.fullmatch(path.name)
        if match and not _alive(int(match.group(1))):
            mark_process_dead(int(match.group(1)), str(folder))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
