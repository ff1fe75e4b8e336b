"""Real Prometheus (and Alertmanager) processes for tests that need their own configuration: started on
free ports with a temporary config and storage, stopped when the test ends."""

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from tests.conftest import METAMON, free_port


def wait_ready(
    url: str, process: subprocess.Popen, timeout: float = 30, codes: tuple[int, ...] = (200,)
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code in codes:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


@contextmanager
def running(
    args: list[str], ready_url: str, log: Path, env: dict | None = None, ready_codes: tuple[int, ...] = (200,)
) -> Iterator[None]:
    with log.open("w") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            wait_ready(ready_url, process, codes=ready_codes)
            yield
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def prometheus(config: dict, directory: Path) -> Iterator[str]:
    """A Prometheus server on `config` (rule files relative to `directory`); yields its URL."""
    port = free_port()
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    args = [
        "prometheus",
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with running(args, f"{url}/-/ready", directory / "prometheus.log"):
        yield url


@contextmanager
def exporter(database_url: str, directory: Path, **settings: str) -> Iterator[str]:
    """`metamon exporter` on a free port against `database_url`; yields host:port."""
    port = free_port()
    env = {
        **os.environ,
        "METAMON_DATABASE_URL": database_url,
        **{f"METAMON_{k.upper()}": v for k, v in settings.items()},
    }
    with running(
        [METAMON, "exporter", "--port", str(port)],
        f"http://127.0.0.1:{port}/metrics",
        directory / "exporter.log",
        env,
    ):
        yield f"127.0.0.1:{port}"


def query(prometheus_url: str, promql: str) -> list[dict]:
    response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=5)
    response.raise_for_status()
    return response.json()["data"]["result"]


def wait_for(check, timeout: float = 30, interval: float = 0.5):
    """Poll `check()` until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@contextmanager
def api_server(database_url: str, directory: Path, workers: int = 2, **settings: str) -> Iterator[str]:
    """`metamon serve` with several uvicorn workers on a free port; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "METAMON_DATABASE_URL": database_url,
        "METAMON_LOG_LEVEL": "WARNING",
        **{f"METAMON_{k.upper()}": v for k, v in settings.items()},
    }
    url = f"http://127.0.0.1:{port}"
    args = [METAMON, "serve", "--port", str(port), "--workers", str(workers)]
    with running(args, f"{url}/api/v1/projects/current", directory / "api.log", env, ready_codes=(401,)):
        yield url
