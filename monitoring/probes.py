"""Health probes for each dependency, shared by `GET /api/v1/health` and `metamon stack up/status`."""

import time
from dataclasses import dataclass

import httpx

from metamon.monitoring.db.connect import connect

# One client for every probe: building a client per call costs ~30 ms of TLS setup even for plain HTTP.
_http = httpx.Client(trust_env=False)


@dataclass(frozen=True)
class ProbeResult:
    name: str
    healthy: bool
    detail: str
    latency_seconds: float

    def as_dict(self) -> dict:
        return {
            "status": "up" if self.healthy else "down",
            "detail": self.detail,
            "latency_ms": round(self.latency_seconds * 1000, 2),
        }


def _timed(name: str, check) -> ProbeResult:
    """Run `check()` -> detail string; any exception means down, with the exception as the reason."""
    start = time.perf_counter()
    try:
        detail = check()
        healthy = True
    except Exception as exc:  # a probe reports failures, it never raises them
        detail = f"{type(exc).__name__}: {exc}".strip()
        healthy = False
    return ProbeResult(name, healthy, detail, time.perf_counter() - start)


def probe_database(database_url: str, timeout: float) -> ProbeResult:
    def check() -> str:
        with connect(database_url, connect_timeout=max(1, int(timeout))) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        return f"PostgreSQL {version}"

    return _timed("database", check)


def probe_elasticsearch(es_url: str, timeout: float, wait_for_status: str | None = None) -> ProbeResult:
    """`es_url`: one node, or a cluster's nodes comma-separated: up when one of them answers."""

    # cluster.health, not GET /: the stripped test distribution has no root endpoint.
    def ask(node: str) -> str:
        params = {"timeout": f"{int(timeout * 1000)}ms"}
        if wait_for_status:
            params["wait_for_status"] = wait_for_status
        resp = _http.get(f"{node}/_cluster/health", params=params, timeout=timeout + 1)
        resp.raise_for_status()
        status = resp.json()["status"]
        if status == "red":
            raise RuntimeError("cluster health is red")
        return f"cluster {status}"

    def check() -> str:
        *others, last = es_url.split(",")
        for node in others:
            try:
                return ask(node)
            except httpx.TransportError:  # this node is down: the next may answer for the cluster
                continue
        return ask(last)

    return _timed("elasticsearch", check)


def probe_http_ready(name: str, base_url: str, path: str, timeout: float) -> ProbeResult:
    """Prometheus and Alertmanager answer 200 on /-/ready once they serve."""

    def check() -> str:
        resp = _http.get(f"{base_url}{path}", timeout=timeout)
        resp.raise_for_status()
        return "ready"

    return _timed(name, check)
