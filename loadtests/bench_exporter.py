"""`/metrics` at 10,000 series: metamon's exporter against a bare prometheus-client registry serving the
same series, measured in the same run.

    .venv/bin/python loadtests/bench_exporter.py [--series 10000] [--scrapes 50]

A scratch database gets the state the API and the agents leave behind, sized for the series asked for:
per project, usage counters (5 apps x 4 models x 2 statuses), evaluation counters (4 evaluators), the
latest evaluation run per scope (app-wide and per model and domain) and the monitor's findings. Then:

- metamon: `metamon exporter` on that database with its cache off (exporter_cache_seconds=0), so each
  scrape runs every collector's queries against PostgreSQL and builds its families;
- bare: a process whose prometheus-client registry holds the same families, parsed once from the
  exporter's own output, and serves them with the same `start_http_server` (exposition only).

Each is scraped `--scrapes` times in sequence over HTTP (after two warm-ups); the figures are p50/p95 of
the scrape time, their ratio, the series count of both outputs, and the exporter's peak RSS (budget
150 MB). `promtool check metrics` runs on the exporter's output.
"""

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Process, free_port, peak_rss_mb, percentile, scratch_databases, wait_http  # noqa: E402

from metamon.monitoring.db.session import session_scope  # noqa: E402

console = Console(width=120)
APPS = [f"app-{i}" for i in range(5)]
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "llama-3-70b"]
DOMAINS = ["billing", "shipping", "general"]
EVALUATORS = ["fact_accuracy", "guardrails", "sla", "cost"]
SIGNALS = ["error_ratio", "latency_p95", "fact_accuracy", "guardrail_pass"]
# Series one project yields (counted from the exporter's output of one project; checked below).
SERIES_PER_PROJECT = 805


def seed(database_url: str, projects: int) -> None:
    """Counters, runs and findings for `projects` projects, in one transaction."""
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        conn = session.connection().connection.driver_connection
        with conn.cursor() as cur:
            for p in range(projects):
                pid = uuid.uuid4()
                cur.execute(
                    "INSERT INTO projects (id, slug, name) VALUES (%s, %s, 'bench')", (pid, f"bench-{p}")
                )
                usage = [
                    (pid, app, model, status, 1000 + p, 10, 50_000, 20_000, 1.5, [100] * 8, 1000, 650.0)
                    for app in APPS
                    for model in MODELS
                    for status in ("ok", "error")
                ]
                cur.executemany(
                    "INSERT INTO usage_counters (project_id, app, model, status, requests, sla_violations, "
                    "input_tokens, output_tokens, cost_usd, latency_buckets, latency_count, latency_sum) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    usage,
                )
                cur.executemany(
                    "INSERT INTO evaluation_counters (project_id, app, evaluator, evaluations, failures) "
                    "VALUES (%s, %s, %s, 5000, 120)",
                    [(pid, app, evaluator) for app in APPS for evaluator in EVALUATORS],
                )
                scopes = [(app, None, None) for app in APPS] + [
                    (app, model, domain) for app in APPS for model in MODELS for domain in DOMAINS
                ]
                cur.executemany(
                    """INSERT INTO evaluation_runs (id, project_id, app, model, domain, window_start,
                        window_end, trace_count, fact_accuracy, guardrail_pass_rate, sla_compliance,
                        error_rate, cost_per_request_usd, latency_p50_seconds, latency_p95_seconds,
                        expert_agreement, delta_previous, delta_baseline, is_baseline, trigger)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, 100, 0.93, 0.98, 0.97, 0.01, 0.002, 0.6, 1.8, 0.9,
                        '{}', '{}', false, 'scheduled')""",
                    [(uuid.uuid4(), pid, *scope, now - timedelta(hours=1), now) for scope in scopes],
                )
                cur.executemany(
                    "INSERT INTO monitor_findings (project_id, app, signal, z_score, samples, "
                    "history_buckets, anomalous, detail, computed_at) "
                    "VALUES (%s, %s, %s, 0.4, 100, 12, false, '', %s)",
                    [(pid, app, signal, now) for app in APPS for signal in SIGNALS],
                )


def serve_bare(text: str, port: int) -> None:
    """The bare backend: a registry whose one collector yields the parsed families, over HTTP."""

    class Static:
        def __init__(self, families):
            self.families = families

        def collect(self):
            return iter(self.families)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Static(list(text_string_to_metric_families(text))))
    start_http_server(port, addr="127.0.0.1", registry=registry)
    while True:
        time.sleep(3600)


def scrape_times(url: str, scrapes: int) -> tuple[list[float], str]:
    with httpx.Client(timeout=60) as http:
        for _ in range(2):
            http.get(url).raise_for_status()
        times, body = [], ""
        for _ in range(scrapes):
            start = time.perf_counter()
            response = http.get(url)
            times.append(time.perf_counter() - start)
            response.raise_for_status()
            body = response.text
    return times, body


def series_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    projects = -(-args.series // SERIES_PER_PROJECT)
    console.print(f"exporter benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")

    with scratch_databases("metamon_bench_exporter", keep=args.keep) as (database_url,):
        seed(database_url, projects)
        port = free_port()
        exporter = Process(
            ["exporter"],
            {
                "METAMON_DATABASE_URL": database_url,
                "METAMON_EXPORTER_PORT": str(port),
                "METAMON_EXPORTER_CACHE_SECONDS": "0",
            },
        )
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            wait_http(url)
            metamon_times, text = scrape_times(url, args.scrapes)
            rss = peak_rss_mb(exporter.proc.pid)
        finally:
            exporter.stop()

        bare_port = free_port()
        bare = multiprocessing.Process(target=serve_bare, args=(text, bare_port), daemon=True)
        bare.start()
        try:
            bare_url = f"http://127.0.0.1:{bare_port}/metrics"
            wait_http(bare_url)
            bare_times, bare_text = scrape_times(bare_url, args.scrapes)
            bare_rss = peak_rss_mb(bare.pid)
        finally:
            bare.terminate()

    series, bare_series = series_count(text), series_count(bare_text)
    assert series >= args.series * 0.95, (
        f"seeded {series} series, wanted {args.series}: adjust SERIES_PER_PROJECT"
    )
    console.print(
        f"{projects} projects -> metamon {series:,} series, bare {bare_series:,}; {args.scrapes} scrapes each"
    )
    for name, times, memory in (
        ("metamon exporter", metamon_times, rss),
        ("bare registry", bare_times, bare_rss),
    ):
        console.print(
            f"  {name:<17} p50 {percentile(times, 50) * 1000:7.1f} ms   "
            f"p95 {percentile(times, 95) * 1000:7.1f} ms   peak RSS {memory:5.0f} MB"
        )
    for p in (50, 95):
        console.print(
            f"  ratio p{p}: {percentile(metamon_times, p) / percentile(bare_times, p):.2f}x the bare registry"
        )
    console.print(f"  exporter peak RSS {rss:.0f} MB (budget 150 MB): {'ok' if rss <= 150 else 'OVER'}")
    if promtool := shutil.which("promtool"):
        check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        problems = (check.stdout + check.stderr).strip()
        console.print(
            f"  promtool check metrics: {'clean' if check.returncode == 0 and not problems else problems}"
        )


if __name__ == "__main__":
    main()
