"""Alertmanager's webhook under load, and the fast profile's alert-to-proposal latency.

    .venv/bin/python loadtests/bench_webhook.py [--notifications 2000] [--replays 5] [--clients 8]
        [--rounds 3]

1. Webhook: N distinct notifications (one alert each, labels and annotations as metamon's rules make
   them), then each replayed R times, sent by concurrent keep-alive clients from a separate process, to
   `metamon serve --workers 2` (POST /api/v1/alerts/webhook) and, in the same run, to a bare FastAPI app
   under uvicorn with 2 workers that parses the same JSON and upserts the alert into a plain table with
   one INSERT ... ON CONFLICT (the least a correct idempotent webhook does). Throughput, p50/p95/p99 of
   first deliveries and of replays, their ratios, and the API's peak RSS. Both end with one row per alert
   counting every delivery, which the benchmark checks.
2. Alert to proposal: per round, a new project with a prompt regression and its evaluation run (fact
   accuracy 0.77); the real exporter, Prometheus with the fast rules (scrape and evaluation every 1s), the
   real Alertmanager (metamon's rendered config, the webhook route's group_wait set to 1s) and
   `metamon worker`. t0 = activeAt + `for` of MetamonFactAccuracyLow, t1 = the alert row is visible,
   t2 = the proposal row is visible; (t2 - t0) less the configured waits is the figure (target <= 5 s).

Everything runs in scratch databases, dropped at the end.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import httpx
import uvloop
import yaml
from fastapi import FastAPI, Header, HTTPException, Request
from psycopg.types.json import Jsonb
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

LOADTESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(LOADTESTS), str(LOADTESTS.parent)]  # common.py; the tests' live helpers and seeds
from common import APPS, Process, free_port, peak_rss_mb, percentile, scratch_databases, wait_http  # noqa: E402

from metamon.agents.evaluation.runs import write_runs  # noqa: E402
from metamon.monitoring.alerting.alertmanager_config import WEBHOOK, render  # noqa: E402
from metamon.monitoring.alerting.thresholds import seconds  # noqa: E402
from metamon.monitoring.db.connect import connect  # noqa: E402
from metamon.monitoring.db.models import ImprovementProposal, MonitoringAlert, Outbox  # noqa: E402
from metamon.monitoring.db.session import session_scope  # noqa: E402
from metamon.monitoring.keys import get_or_create_project  # noqa: E402
from metamon.monitoring.outbox import ALERT_RESEARCH  # noqa: E402
from metamon.monitoring.settings import get_settings  # noqa: E402
from tests.live import FAST_RULES, alertmanager, api_server, exporter, fast_loop_config, prometheus, worker  # noqa: E402
from tests.monitoring.alerting_payloads import alert, notification  # noqa: E402
from tests.monitoring.workflow.seed import prompt_regression_now  # noqa: E402

console = Console(width=130)
WEBHOOK_PATH = "/api/v1/alerts/webhook"
BARE_PATH = "/webhook"
RULES = LOADTESTS.parent / "prometheus" / "rules" / "metamon.rules.yml"
LOOP_ALERT = "MetamonFactAccuracyLow"
GROUP_WAIT = "1s"  # the webhook route's group_wait for the alert-to-proposal measurement
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


# --- the bare baseline: parse the JSON, one INSERT ... ON CONFLICT per alert into a plain table -------

BARE_TABLE = """
CREATE TABLE bench_bare_alerts (
    fingerprint text NOT NULL,
    starts_at timestamptz NOT NULL,
    status text NOT NULL,
    labels jsonb NOT NULL,
    annotations jsonb NOT NULL,
    notification_count int NOT NULL DEFAULT 1,
    PRIMARY KEY (fingerprint, starts_at)
)"""
BARE_UPSERT = """
INSERT INTO bench_bare_alerts AS a (fingerprint, starts_at, status, labels, annotations)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (fingerprint, starts_at) DO UPDATE SET status = EXCLUDED.status, labels = EXCLUDED.labels,
    annotations = EXCLUDED.annotations, notification_count = a.notification_count + 1"""


def create_bare_app() -> FastAPI:
    """The bare webhook, run by uvicorn (`--factory`) in its own worker processes."""
    database_url, token = os.environ["BENCH_BARE_DATABASE_URL"], os.environ["BENCH_BARE_TOKEN"]
    local = threading.local()  # one connection per threadpool thread, as a connection pool would give

    def upsert(alerts: list[dict]) -> None:
        if not hasattr(local, "conn"):
            local.conn = connect(database_url, autocommit=True)
        with local.conn.transaction():
            for a in alerts:
                local.conn.execute(
                    BARE_UPSERT,
                    (
                        a["fingerprint"],
                        a["startsAt"],
                        a["status"],
                        Jsonb(a["labels"]),
                        Jsonb(a["annotations"]),
                    ),
                )

    app = FastAPI()

    @app.post(BARE_PATH)
    async def webhook(request: Request, authorization: Annotated[str | None, Header()] = None) -> dict:
        if authorization != f"Bearer {token}":
            raise HTTPException(401, "wrong token")
        alerts = json.loads(await request.body())["alerts"]
        await run_in_threadpool(upsert, alerts)
        return {"received": len(alerts)}

    return app


# --- the load: notifications as metamon's rules make them, sent from a separate process ---------------

_TEMPLATE = re.compile(r"\{\{\s*\$(labels\.(\w+)|value)[^}]*\}\}")


def _rendered(text: str, labels: dict[str, str]) -> str:
    """A rule annotation as Alertmanager receives it: Prometheus has filled in labels and value."""
    return _TEMPLATE.sub(lambda m: labels.get(m.group(2), "?") if m.group(2) else "81.2%", text)


def make_notifications(n: int, project: str, prefix: str) -> list[bytes]:
    """n notifications of one firing alert each, drawn from metamon's own alert rules."""
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]
    rng = random.Random(5)
    bodies = []
    for i in range(n):
        rule = rules[i % len(rules)]
        labels = {"alertname": rule["alert"], **rule["labels"], "project": project, "app": rng.choice(APPS)}
        body = alert(f"{prefix}{i:06d}{rng.getrandbits(32):08x}", starts=T0 + timedelta(seconds=i), **labels)
        body["annotations"] = {k: _rendered(v, labels) for k, v in rule["annotations"].items()}
        body["generatorURL"] = f"http://prometheus:9090/graph?g0.expr={rule['alert']}&g0.tab=1"
        bodies.append(json.dumps(notification(body)).encode())
    return bodies


def _drive(url: str, token: str, bodies: list[bytes], order: list[int], clients: int, sent, out) -> None:
    """In the load process: `clients` keep-alive connections, each posting the next body in `order` as
    soon as its previous one is answered; sends back (elapsed, its CPU time, latencies, status counts)."""

    async def run() -> tuple[float, float, list[float], Counter]:
        latencies, codes, todo = [], Counter(), iter(order)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:

            async def one_client() -> None:
                for i in todo:
                    t = time.perf_counter()
                    response = await client.post(url, content=bodies[i])
                    latencies.append(time.perf_counter() - t)
                    codes[response.status_code] += 1
                    sent.value += 1

            start, cpu = time.perf_counter(), time.process_time()
            await asyncio.gather(*(one_client() for _ in range(clients)))
            return time.perf_counter() - start, time.process_time() - cpu, latencies, codes

    out.send(uvloop.run(run()))


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU time of each process still alive, from /proc."""
    tick, cpu = os.sysconf("SC_CLK_TCK"), {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return cpu


def _server_pids(server_pid: int, database_url: str) -> list[int]:
    """The server's processes (uvicorn's supervisor and workers) and the PostgreSQL backends serving
    this benchmark's database."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    with connect(database_url, autocommit=True) as conn:
        backends = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [server_pid, *map(int, children), *(-pid for (pid,) in backends)]  # backends negated


def send(
    url: str, token: str, bodies: list[bytes], order: list[int], clients: int, label: str, server
) -> dict:
    """Post bodies[i] for i in `order` from a separate process (the client must not share the API's
    interpreter); returns notifications/s, latencies, and CPU per notification of the server, of
    PostgreSQL and of the client. `server` is (server pid, database URL)."""
    ctx = multiprocessing.get_context("spawn")
    sent, (receive, out) = ctx.Value("i", 0, lock=False), ctx.Pipe(duplex=False)
    load = ctx.Process(target=_drive, args=(url, token, bodies, order, clients, sent, out))
    load.start()
    before = None
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(label, total=len(order))
        while not receive.poll(0.2):
            if not load.is_alive():
                raise RuntimeError("the load process died")
            if before is None and sent.value:  # the client is up: count the server's CPU from here
                before = _cpu_seconds([abs(p) for p in _server_pids(*server)])
            progress.update(task, completed=sent.value)
    elapsed, client_cpu, latencies, codes = receive.recv()
    pids = _server_pids(*server)
    after = _cpu_seconds([abs(p) for p in pids])
    load.join()
    if set(codes) != {200}:
        raise RuntimeError(f"{label}: status codes {dict(codes)}")
    used = {p: after[abs(p)] - (before or {}).get(abs(p), 0.0) for p in pids if abs(p) in after}
    n = len(order)
    return {
        "per_s": n / elapsed,
        "latencies": latencies,
        "cpu_ms": {
            "server": sum(v for p, v in used.items() if p > 0) / n * 1000,
            "postgres": sum(v for p, v in used.items() if p < 0) / n * 1000,
            "client": client_cpu / n * 1000,
        },
    }


def figures(result: dict) -> str:
    lat = result["latencies"]
    return (
        f"{result['per_s']:7,.0f} notifications/s, p50 {percentile(lat, 50) * 1000:5.1f} ms, "
        f"p95 {percentile(lat, 95) * 1000:5.1f} ms, p99 {percentile(lat, 99) * 1000:5.1f} ms; CPU ms per "
        "notification: " + ", ".join(f"{k} {v:.2f}" for k, v in result["cpu_ms"].items())
    )


def measure(url, token, n, replays, clients, project, name, server) -> dict:
    warm = make_notifications(200, project, "warm")
    bodies = make_notifications(n, project, "fp")
    send(url, token, warm, list(range(len(warm))), clients, f"{name}: warm-up", server)
    first = send(url, token, bodies, list(range(n)), clients, f"{name}: first deliveries", server)
    rng = random.Random(9)
    order = [i for _ in range(replays) for i in rng.sample(range(n), n)]  # rounds, each in a new order
    again = send(url, token, bodies, order, clients, f"{name}: replays", server)
    console.print(f"  {name:8} first   {figures(first)}")
    console.print(f"  {name:8} replays {figures(again)}")
    return {"first": first, "replays": again}


def bench_webhook(base, db_url: str, args) -> dict:
    n, replays, clients, token = args.notifications, args.replays, args.clients, base.webhook_token()
    project = "bench-webhook"
    with session_scope(db_url) as session:
        get_or_create_project(session, project)  # so new alerts take the full path: audit and research queue
    with connect(db_url, autocommit=True) as conn:
        conn.execute(BARE_TABLE)
    console.print(
        f"[bold]webhook[/]: {n:,} distinct notifications (one alert each), then each replayed {replays}x, "
        f"{clients} concurrent clients; 2 API workers"
    )

    port = free_port()
    bare_env = {**os.environ, "BENCH_BARE_DATABASE_URL": db_url, "BENCH_BARE_TOKEN": token}
    bare = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench_webhook:create_bare_app", "--factory", "--workers", "2",
         "--port", str(port), "--app-dir", str(LOADTESTS), "--no-access-log", "--log-level", "warning"],
        env=bare_env,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/docs")
        bare_result = measure(
            f"http://127.0.0.1:{port}{BARE_PATH}",
            token,
            n,
            replays,
            clients,
            project,
            "bare",
            (bare.pid, db_url),
        )
    finally:
        bare.terminate()
        bare.wait(20)

    port = free_port()
    api = Process(
        ["serve", "--port", str(port), "--workers", "2"],
        {"METAMON_DATABASE_URL": db_url, "METAMON_LOG_LEVEL": "WARNING"},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/api/v1/health")
        result = measure(
            f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
            token,
            n,
            replays,
            clients,
            project,
            "metamon",
            (api.proc.pid, db_url),
        )
        rss = peak_rss_mb(api.proc.pid)
    finally:
        api.stop()

    # Both end with one row per alert that counted every delivery; metamon also queued the research.
    with connect(db_url) as conn:
        bare_rows = conn.execute(
            "SELECT count(*), min(notification_count), max(notification_count) FROM bench_bare_alerts"
            " WHERE fingerprint LIKE 'fp%'"
        ).fetchone()
    with session_scope(db_url) as session:
        rows = session.execute(
            select(
                func.count(),
                func.min(MonitoringAlert.notification_count),
                func.max(MonitoringAlert.notification_count),
            ).where(MonitoringAlert.fingerprint.like("fp%"))
        ).one()
        queued = session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.topic == ALERT_RESEARCH)
        )
    expected = (n, replays + 1, replays + 1)
    assert tuple(bare_rows) == expected and tuple(rows) == expected, (bare_rows, rows)
    console.print(
        f"  checked: {n:,} rows each counting {replays + 1} deliveries in both; "
        f"metamon queued {queued:,} alerts for research"
    )
    for phase in ("first", "replays"):
        ours, theirs = result[phase], bare_result[phase]
        console.print(
            f"  ratio metamon/bare, {phase:7}: throughput {ours['per_s'] / theirs['per_s']:.2f}x, "
            f"p99 {percentile(ours['latencies'], 99) / percentile(theirs['latencies'], 99):.2f}x"
        )
    console.print(f"  peak RSS of one metamon API process {rss:.0f} MB")
    return result


# --- alert to proposal -----------------------------------------------------------------------------


def _rule(name: str) -> tuple[float, float]:
    """(`for`, evaluation interval) of the fast rule `name`, in seconds."""
    for group in yaml.safe_load(FAST_RULES.read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == name:
                return seconds(rule["for"]), seconds(group["interval"])
    raise LookupError(name)


def _prometheus_time(stamp: str) -> float:
    # Prometheus writes nanoseconds; Python parses up to microseconds.
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", stamp).replace("Z", "+00:00")).timestamp()


def _firing(prometheus_url: str, project: str) -> dict | None:
    alerts = httpx.get(f"{prometheus_url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    want = {"alertname": LOOP_ALERT, "severity": "critical", "project": project}
    return next((a for a in alerts if a["state"] == "firing" and want.items() <= a["labels"].items()), None)


def one_round(
    db_url: str, prometheus_url: str, project: str, for_seconds: float, timeout: float = 120
) -> dict:
    """Seed a regression in a new project and time its way to a proposal (wall clock, polled every 20 ms)."""
    project_id = _seed(db_url, project)
    seen = stored = proposed = None
    deadline = time.monotonic() + timeout
    while proposed is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{project}: firing {seen is not None}, stored {stored}, proposed {proposed}")
        now = time.time()
        if seen is None and (firing := _firing(prometheus_url, project)):
            seen, active_at = now, _prometheus_time(firing["activeAt"])
        if seen is not None:
            with session_scope(db_url) as session:
                if stored is None and session.scalar(
                    select(MonitoringAlert.id).where(
                        MonitoringAlert.project_id == project_id, MonitoringAlert.alertname == LOOP_ALERT
                    )
                ):
                    stored = now
                if stored is not None and session.scalar(
                    select(ImprovementProposal.id).where(ImprovementProposal.project_id == project_id)
                ):
                    proposed = now
        time.sleep(0.02)
    t0 = active_at + for_seconds
    return {"t0": t0, "seen": seen - t0, "stored": stored - t0, "proposed": proposed - t0}


def _seed(db_url: str, project: str):
    with session_scope(db_url) as session:
        get_or_create_project(session, project)
    project_id = prompt_regression_now(db_url, project)
    with session_scope(db_url) as session:
        runs = write_runs(
            session, end=datetime.now(UTC), window=timedelta(hours=1), baseline_days=7, project_id=project_id
        )
        (app_wide,) = [r for r in runs if r.model is None]
        assert app_wide.fact_accuracy < 0.85, app_wide.fact_accuracy
    return project_id


def bench_alert_to_proposal(base, db_url: str, rounds: int) -> dict:
    for_seconds, evaluation = _rule(LOOP_ALERT)
    poll = base.search.indexer_poll_seconds  # the worker's sleep when its queue is empty
    waits = seconds(GROUP_WAIT) + evaluation + poll
    console.print(
        f"[bold]alert to proposal[/] (fast profile, {rounds} rounds): {LOOP_ALERT} for {for_seconds:.0f}s; "
        f"configured waits: Alertmanager group_wait {GROUP_WAIT} (set for this run), Prometheus evaluation "
        f"{evaluation:.0f}s, worker poll {poll}s = {waits:.1f}s"
    )
    with tempfile.TemporaryDirectory(prefix="bench-webhook-") as tmp:
        directory = Path(tmp)
        with (
            api_server(db_url, directory, workers=2) as api,
            exporter(db_url, directory) as exporter_target,
            worker(db_url, directory),
        ):
            settings = base.model_copy(update={"api_port": int(api.rsplit(":", 1)[1])})
            config_path = render(settings, directory / "alertmanager")
            config = yaml.safe_load(config_path.read_text())
            for route in config["route"]["routes"]:
                if route["receiver"] == WEBHOOK:
                    route["group_wait"] = GROUP_WAIT
            config_path.write_text(yaml.safe_dump(config, sort_keys=False))
            with alertmanager(directory / "alertmanager") as am:
                prom_config = fast_loop_config(am, exporter_target, api)
                with prometheus(prom_config, directory) as prometheus_url:
                    results = []
                    for k in range(rounds):
                        with console.status(f"round {k + 1}: waiting for the alert and its proposal"):
                            try:
                                r = one_round(db_url, prometheus_url, f"bench-loop-{k}", for_seconds)
                            except TimeoutError:
                                for log in ("alertmanager/alertmanager.log", "api.log", "worker.log"):
                                    console.print(f"[bold]{log}[/]", (directory / log).read_text()[-2000:])
                                raise
                        results.append(r)
                        console.print(
                            f"  round {k + 1}: after t0, firing seen +{r['seen']:.2f}s, alert stored "
                            f"+{r['stored']:.2f}s, proposal +{r['proposed']:.2f}s; beyond the waits "
                            f"{r['proposed'] - waits:.2f}s"
                        )
    beyond = sorted(r["proposed"] - waits for r in results)
    console.print(
        f"  alert to proposal beyond the configured waits: median {beyond[len(beyond) // 2]:.2f}s, "
        f"worst {beyond[-1]:.2f}s (target <= 5 s); raw t2 - t0 median "
        f"{sorted(r['proposed'] for r in results)[len(results) // 2]:.2f}s"
    )
    return {"rounds": results, "beyond_waits": beyond}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--notifications", type=int, default=2000)
    parser.add_argument("--replays", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="alert-to-proposal measurements")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-loop", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    args = parser.parse_args()

    base = get_settings()
    console.print(
        f"metamon webhook benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores"
    )
    names = ("metamon_bench_webhook", "metamon_bench_webhook_loop")
    with scratch_databases(*names, keep=args.keep) as (webhook_url, loop_url):
        if not args.skip_throughput:
            bench_webhook(base, webhook_url, args)
        if not args.skip_loop:
            bench_alert_to_proposal(base, loop_url, args.rounds)


if __name__ == "__main__":
    main()
