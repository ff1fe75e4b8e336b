"""One API process killed behind the balancer while clients send traces and read: HAProxy sends new
requests to the other process at once and repeats the GETs that got no answer; the POSTs that were in
flight on the dead process fail, and the SDK's shipper sends them again (ingest is idempotent per trace
id). Nothing is lost, nothing is stored twice."""

import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from metamon.monitoring.db.models import Project, Trace
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.stack.ha import ha_ports
from metamon.sdk.shipper import TraceShipper
from tests.ha.conftest import key_for, kill, wait_running_again

pytestmark = pytest.mark.timeout(1500)

SHIPPERS = 4  # concurrent producers, each with at most one request in flight
TRACES_PER_SHIPPER = 600


def trace(producer: int, i: int) -> dict:
    return {
        "id": f"p{producer}-{i}",
        "timestamp": datetime.now(UTC).isoformat(),
        "app": "support-bot",
        "input": f"question {i} from producer {producer}",
        "output": f"answer {i}",
        "latency_seconds": 0.5,
    }


def test_an_api_process_killed_behind_the_balancer_costs_only_its_in_flight_requests(
    ha_stack, ha_base, balancer
):
    settings = ha_stack
    project = f"ha-api-{uuid.uuid4().hex[:6]}"
    key = key_for(settings, project)
    shippers = [
        # A long timeout: on a loaded machine a slow answer is not a failure, only the kill should count.
        TraceShipper(
            balancer, key, batch_size=10, flush_interval=0.05, backoff=0.2, max_retries=5, timeout=30
        )
        for _ in range(SHIPPERS)
    ]
    reads: list[int | str] = []
    stop = threading.Event()

    def read() -> None:  # a dashboard reader without retries of its own
        with httpx.Client(
            base_url=balancer, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as client:
            while not stop.is_set():
                try:
                    reads.append(client.get("/api/v1/alerts").status_code)
                except httpx.HTTPError as exc:
                    reads.append(type(exc).__name__)
                time.sleep(0.02)

    def produce(n: int) -> None:
        for i in range(TRACES_PER_SHIPPER):
            shippers[n].submit(trace(n, i))
            time.sleep(0.005)

    reader = threading.Thread(target=read)
    producers = [threading.Thread(target=produce, args=(n,)) for n in range(SHIPPERS)]
    reader.start()
    for p in producers:
        p.start()
    time.sleep(3)
    pid = kill(settings, "api-1")
    for p in producers:
        p.join()
    for shipper in shippers:
        assert shipper.flush(timeout=120)
    stop.set()
    reader.join()
    for shipper in shippers:
        shipper.close()

    failed = sum(s.stats.failed_attempts for s in shippers)
    assert sum(s.stats.sent for s in shippers) == SHIPPERS * TRACES_PER_SHIPPER
    assert sum(s.stats.dropped_after_retries + s.stats.rejected for s in shippers) == 0
    # At most what was in flight on the dead process: one request per producer.
    assert failed <= SHIPPERS, [s.stats for s in shippers]
    with session_scope(settings.database.url) as session:
        stored = session.scalar(
            select(func.count()).select_from(Trace).join(Project).where(Project.slug == project)
        )
    assert stored == SHIPPERS * TRACES_PER_SHIPPER
    failed_reads = [r for r in reads if r != 200]
    assert failed_reads == [], failed_reads
    print(
        f"HA figure: api-1 killed under {SHIPPERS} producers and 1 reader: {failed} ingest requests "
        f"failed and were retried by the SDK, {len(failed_reads)} of {len(reads)} reads failed, "
        f"{stored} of {SHIPPERS * TRACES_PER_SHIPPER} traces stored"
    )
    port = ha_ports(ha_base).api[0]
    wait_running_again(settings, "api-1", pid, f"http://127.0.0.1:{port}/api/v1/health/ready")
