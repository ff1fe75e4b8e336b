"""Real Prometheus (and Alertmanager) processes for tests that need their own configuration: started on
free ports with a temporary config and storage, stopped when the test ends."""

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import yaml

from tests.conftest import METAMON, free_port
from tests.paths import CHECKOUT

FAST_RULES = CHECKOUT / "prometheus" / "rules" / "fast" / "metamon.rules.yml"
RULES = CHECKOUT / "prometheus" / "rules" / "metamon.rules.yml"


def wait_ready(
    url: str, process: subprocess.Popen, timeout: float = 120, codes: tuple[int, ...] = (200,)
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
    args: list[str],
    ready_url: str | None,
    log: Path,
    env: dict | None = None,
    ready_codes: tuple[int, ...] = (200,),
    cwd: Path | None = None,
) -> Iterator[None]:
    """Run a process until the block ends, once `ready_url` answers (None: once it started)."""
    with log.open("w") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            if ready_url:
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


def fast_loop_config(alertmanager_target: str, exporter_target: str, api_url: str) -> dict:
    """Prometheus on the fast rules, 1 s scrapes and evaluations, alerting to `alertmanager_target`.
    Both metamon jobs: without the API's, MetamonApiDown fires and inhibits the quality alerts."""
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(FAST_RULES)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_target]}]}]},
        "scrape_configs": [
            {"job_name": "metamon-exporter", "static_configs": [{"targets": [exporter_target]}]},
            {"job_name": "metamon-api", "static_configs": [{"targets": [api_url.removeprefix("http://")]}]},
        ],
    }


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


@contextmanager
def alertmanager(config_dir: Path) -> Iterator[str]:
    """Alertmanager on `config_dir/alertmanager.yml`, run from that directory (it resolves some secret
    paths against its working directory); yields its host:port."""
    port = free_port()
    args = [
        "prometheus-alertmanager",
        f"--config.file={config_dir / 'alertmanager.yml'}",
        f"--storage.path={config_dir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with running(args, f"http://127.0.0.1:{port}/-/ready", config_dir / "alertmanager.log", cwd=config_dir):
        yield f"127.0.0.1:{port}"


@contextmanager
def worker(database_url: str, directory: Path) -> Iterator[None]:
    """`metamon worker` (alerts -> proposals) against `database_url`."""
    env = {**os.environ, "METAMON_DATABASE_URL": database_url}
    with running([METAMON, "worker"], None, directory / "worker.log", env):
        yield


@contextmanager
def http_receiver() -> Iterator[tuple[str, list[dict]]]:
    """A local HTTP endpoint standing in for Slack's incoming webhooks: keeps every JSON body posted."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXX", received
    finally:
        server.shutdown()


@contextmanager
def dashboards_prometheus(database_url: str, api_url: str, directory: Path, project: str) -> Iterator[str]:
    """What the dashboards read from Prometheus: an exporter on `database_url` and the API scraped every
    second, the committed rules evaluated every second; yields the Prometheus URL once the recording
    rules have values for `project`."""
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
    (directory / "rules.yml").write_text(yaml.safe_dump(rules))
    with exporter(database_url, directory, exporter_cache_seconds="0") as target:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(directory / "rules.yml")],
            "scrape_configs": [
                {"job_name": "metamon-exporter", "static_configs": [{"targets": [target]}]},
                # The API's own metrics, once it has served a request.
                {
                    "job_name": "metamon-api",
                    "static_configs": [{"targets": [api_url.removeprefix("http://")]}],
                },
            ],
        }
        assert httpx.get(f"{api_url}/api/v1/health", timeout=30).status_code == 200
        with prometheus(config, directory) as url:
            # Rates need two scrapes; the recording rules one evaluation after that.
            ready = f'project_app:metamon_sla_violations:ratio_rate6h{{project="{project}"}}'
            assert wait_for(lambda: query(url, ready), timeout=30), "the recording rules never ran"
            yield url
