"""Shared by the benchmarks: realistic ~1 KB traces, percentiles, peak RSS, and servers to measure."""

import itertools
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from elasticsearch import Elasticsearch
from sqlalchemy.engine import make_url

from metamon.monitoring.db import migrate
from metamon.monitoring.db.connect import connect
from metamon.monitoring.db.models import ApiKey
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.ingest.writer import COPY_COLUMNS, copy_value
from metamon.monitoring.keys import create_key
from metamon.monitoring.search.client import get_es
from metamon.monitoring.search.indices import delete_trace_indices, ensure_indices
from metamon.monitoring.settings import Settings, get_settings

# Topic words tie a trace to its domain; the rest of the text is drawn from a Zipf-distributed vocabulary of
# 5,000 made-up words, so terms have realistic selectivity (a few very common, most rare).
TOPICS = {
    "billing": ["refund", "invoice", "payment", "card", "subscription", "discount", "coupon", "charge"],
    "shipping": ["parcel", "delivery", "tracking", "courier", "return", "warehouse", "delay", "address"],
    "healthcare": [
        "insulin",
        "dosage",
        "diabetes",
        "prescription",
        "appointment",
        "symptoms",
        "allergy",
        "lab",
    ],
    "travel": ["flight", "hotel", "booking", "luggage", "visa", "itinerary", "airport", "cancellation"],
    "general": ["password", "account", "reset", "settings", "profile", "warranty", "contract", "policy"],
}
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "ti",
    "vo",
    "ze",
    "po",
    "da",
    "fi",
    "gu",
    "he",
    "ju",
    "by",
    "qu",
    "wa",
]
VOCABULARY = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES][:5000]
_CUMULATIVE = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(VOCABULARY))))
APPS, MODELS, DOMAINS = (
    ["support-bot", "assistant", "search"],
    ["gpt-4o", "gpt-4o-mini", "claude-3"],
    list(TOPICS),
)
METAMON = str(Path(sys.executable).parent / "metamon")


def sentence(rng: random.Random, n: int, domain: str) -> str:
    words = rng.choices(VOCABULARY, cum_weights=_CUMULATIVE, k=n)
    for _ in range(2):
        words[rng.randrange(n)] = rng.choice(TOPICS[domain])
    return " ".join(words)


def make_trace(i: int, rng: random.Random, t0: datetime) -> dict:
    """One trace of about 1 KB of JSON, as an application would send it."""
    domain = DOMAINS[i % 5]
    return {
        "id": f"bench-{i}",
        "timestamp": (t0 + timedelta(seconds=i)).isoformat(),
        "app": APPS[i % 3],
        "model": MODELS[i % 3 if i % 7 else 1],
        "domain": domain,
        "prompt_version": f"v{i % 4}",
        "session_id": f"s-{i // 10}",
        "user_id": f"u-{i % 1000}",
        "input": sentence(rng, 30, domain) + "?",
        "output": sentence(rng, 45, domain) + ".",
        "retrieved_context": [{"source_id": f"kb-{i % 500}", "content": sentence(rng, 25, domain)}],
        "latency_seconds": round(rng.lognormvariate(-0.5, 0.6), 3),
        "input_tokens": rng.randint(50, 800),
        "output_tokens": rng.randint(10, 300),
        "cost_usd": round(rng.uniform(0.0001, 0.01), 5),
        "status": "error" if i % 50 == 0 else "ok",
        "tags": ["bench"],
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:.1f} ms, p95 {percentile(values, 95) * 1000:.1f} ms, "
        f"mean {statistics.mean(values) * 1000:.1f} ms"
    )


def peak_rss_mb(pid: int) -> float:
    """The largest VmHWM (peak resident memory) among a process and its children (uvicorn workers), in MB."""
    peak = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except FileNotFoundError:
            pass
    return peak / 1024


def _children(pid: int) -> list[int]:
    try:
        out = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(c) for c in out]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A metamon command run for the benchmark, stopped at the end."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(
            [METAMON, *args],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(20)


def wait_http(url: str, timeout: float = 180) -> None:
    # Generous: two API workers importing the app took 72 s on this machine while other work ran.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


T0 = datetime(2026, 10, 1, tzinfo=UTC)


@contextmanager
def scratch_databases(*names: str, keep: bool = False, migrated: bool = True) -> Iterator[list[str]]:
    """Fresh databases migrated to head (empty unless `migrated`, for a peer) for one benchmark run (their
    URLs), dropped at the end unless `keep`. The stack's PostgreSQL, never the demo's database."""
    settings = get_settings()
    urls = []
    with connect(settings.database.maintenance_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
            urls.append(
                make_url(settings.database.url).set(database=name).render_as_string(hide_password=False)
            )
    try:
        for url in urls if migrated else []:
            migrate.upgrade(url)
        yield urls
    finally:
        if not keep:
            with connect(settings.database.maintenance_url, autocommit=True) as conn:
                for name in names:
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def copy_rows(conn, table: str, rows: list[dict]) -> None:
    """COPY trace rows (as metamon.monitoring.ingest.writer.trace_row makes them) straight into `table`: the
    bare backend's write, and the fast way to seed a benchmark database."""
    with conn.cursor().copy(f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([copy_value(c, row[c]) for c in COPY_COLUMNS])


def bench_target(db_url: str, alias: str) -> tuple[Settings, dict[str, str], Elasticsearch, ApiKey, str]:
    """metamon on a scratch database and index alias: its settings, the environment its processes get,
    the Elasticsearch client (indices freshly made), and an ingest+read key (row and secret)."""
    settings = get_settings().model_copy(update={"database_url": db_url, "traces_index_alias": alias})
    env = {
        "METAMON_DATABASE_URL": db_url,
        "METAMON_TRACES_INDEX_ALIAS": alias,
        "METAMON_LOG_LEVEL": "WARNING",
    }
    es = get_es(settings.search.url)
    delete_trace_indices(es, settings)
    ensure_indices(es, settings)
    with session_scope(db_url) as session:
        key_row, key = create_key(session, "bench", ["ingest", "read"])
        session.expunge(key_row)
    return settings, env, es, key_row, key
