"""The admission middleware on its own (no servers): load shedding and route labels."""

import asyncio
import os

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from metamon.monitoring.api.metrics import _forget_dead_workers
from metamon.monitoring.api.middleware import AdmissionMiddleware


def _app(max_in_flight: int) -> tuple[FastAPI, asyncio.Event]:
    app, release = FastAPI(), asyncio.Event()

    @app.get("/api/v1/slow/{item}")
    async def slow(item: str) -> dict:
        await release.wait()
        return {"item": item}

    @app.get("/api/v1/health")
    async def health() -> dict:
        return {"status": "ok"}

    app.add_middleware(AdmissionMiddleware, api=app, max_in_flight=max_in_flight)
    return app, release


def _count(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _shedding() -> None:
    app, release = _app(max_in_flight=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client:
        held = [asyncio.create_task(client.get(f"/api/v1/slow/{i}")) for i in range(2)]
        await asyncio.sleep(0.05)
        gauge = ("metamon_api_requests_in_flight", {"method": "GET", "route": "/api/v1/slow/{item}"})
        assert _count(gauge[0], **gauge[1]) == 2
        shed_before = _count("metamon_api_requests_shed_total", method="GET", route="/api/v1/slow/{item}")
        refused = await asyncio.wait_for(client.get("/api/v1/slow/3"), 1)  # at once, not queued
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "limit of requests in flight" in refused.json()["detail"]
        shed = _count("metamon_api_requests_shed_total", method="GET", route="/api/v1/slow/{item}")
        assert shed == shed_before + 1
        assert (await client.get("/api/v1/health")).status_code == 200  # health is never shed
        release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert _count(gauge[0], **gauge[1]) == 0
        assert (await client.get("/api/v1/slow/4")).status_code == 200  # room again


def test_a_request_beyond_the_in_flight_limit_is_refused_at_once_with_retry_after():
    asyncio.run(_shedding())


async def _labels() -> None:
    app, release = _app(max_in_flight=5)
    release.set()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://api") as client:
        for path in ("/api/v1/slow/a", "/api/v1/slow/b", "/nowhere/1", "/nowhere/2"):
            await client.get(path)


def test_requests_are_labelled_by_route_template_and_unknown_paths_share_one_label():
    slow = dict(method="GET", route="/api/v1/slow/{item}", status="200")
    unmatched = dict(method="GET", route="unmatched", status="404")
    before = _count("metamon_api_requests_total", **slow), _count("metamon_api_requests_total", **unmatched)
    asyncio.run(_labels())
    after = _count("metamon_api_requests_total", **slow), _count("metamon_api_requests_total", **unmatched)
    assert (after[0] - before[0], after[1] - before[1]) == (2, 2)
    timed = _count("metamon_api_request_duration_seconds_count", method="GET", route="/api/v1/slow/{item}")
    assert timed >= 2


def test_a_dead_workers_live_gauges_are_forgotten_and_a_live_ones_kept(tmp_path):
    dead = 2**22 + 12345  # above the kernel's default pid_max: no such process
    for pid in (dead, os.getpid()):
        (tmp_path / f"gauge_livesum_{pid}.db").write_bytes(b"")
        (tmp_path / f"counter_{pid}.db").write_bytes(b"")
    _forget_dead_workers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"counter_{os.getpid()}.db", f"gauge_livesum_{os.getpid()}.db"]
    )
