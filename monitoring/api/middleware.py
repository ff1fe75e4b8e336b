"""The ASGI middleware in front of every route: it records the API's HTTP metrics and sheds load.

Each worker serves at most `api_max_in_flight` requests at once; one more is answered 503 with
`Retry-After` at once, so overload costs a client a quick retry instead of a 30 s wait on the pool and a
500. Health and /metrics are never shed: they are how an overloaded API is seen.
"""

import re
import time

import orjson
from fastapi import FastAPI
from starlette.routing import Mount, Route, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from metamon.monitoring.api.metrics import IN_FLIGHT, LATENCY, REQUESTS, SHED, UNMATCHED

RETRY_AFTER_SECONDS = 1
NEVER_SHED = ("/api/v1/health", "/metrics")


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, api: FastAPI, max_in_flight: int):
        # Built on the first request, when every router is included.
        self.app, self.templates, self.max_in_flight = app, route_templates(api), max_in_flight
        self.in_flight = 0  # one event loop per worker: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, method, route = time.perf_counter(), scope["method"], self._template(scope)
        status = None

        async def send_recording_status(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if self.in_flight >= self.max_in_flight and not route.startswith(NEVER_SHED):
                SHED.labels(method, route).inc()
                await _unavailable(send_recording_status, "the API is at its limit of requests in flight")
            else:
                await self._serve(scope, receive, send_recording_status, method, route)
        finally:
            REQUESTS.labels(method, route, str(status or 500)).inc()
            LATENCY.labels(method, route).observe(time.perf_counter() - start)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, method: str, route: str) -> None:
        self.in_flight += 1
        gauge = IN_FLIGHT.labels(method, route)
        gauge.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            gauge.dec()

    def _template(self, scope: Scope) -> str:
        path = scope["path"]
        return next((template for template, regex in self.templates if regex.match(path)), UNMATCHED)


def route_templates(app: FastAPI) -> list[tuple[str, re.Pattern]]:
    """Every path template of the app (its operations, docs and mounts) with its regex, literal ones
    first: `/proposals/stats` is not the proposal `{proposal_id}` "stats"."""
    paths = set(app.openapi()["paths"]) | {route.path for route in app.routes if isinstance(route, Route)}
    ordered = sorted(paths, key=lambda template: (template.count("{"), template))
    templates = [(template, compile_path(template)[0]) for template in ordered]
    mounts = [route.path for route in app.routes if isinstance(route, Mount)]
    return templates + [(mount, re.compile(re.escape(mount) + "(/.*)?$")) for mount in mounts]


async def _unavailable(send: Send, reason: str) -> None:
    body = orjson.dumps({"detail": f"{reason}; retry after {RETRY_AFTER_SECONDS} s"})
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
