"""Trace ingest and search, measured against the bare backends in the same run.

    .venv/bin/python loadtests/bench_traces.py [--ingest 50000] [--search-corpus 1000000]

1. Ingest: batches of 500 traces of ~1 KB. Bare backend: PostgreSQL COPY of the rows plus an
   Elasticsearch bulk of the same documents. metamon: POST /api/v1/traces (uvicorn workers, several
   clients) until every trace is stored and indexed by the indexer processes.
2. Search: the corpus grows to --search-corpus traces; the same queries go through
   GET /api/v1/search/traces and straight to Elasticsearch, alternately; p50/p95 of each.
"""

import argparse
import concurrent.futures
import json
import random
import sys
import time
import types
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from elasticsearch import helpers
from rich.console import Console
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    T0,
    TOPICS,
    VOCABULARY,
    Process,
    bench_target,
    copy_rows,
    free_port,
    make_trace,
    peak_rss_mb,
    percentile,
    scratch_databases,
    summary,
    wait_http,
)

from metamon.monitoring.db.connect import connect  # noqa: E402
from metamon.monitoring.db.session import session_factory  # noqa: E402
from metamon.monitoring.ingest.schemas import TraceIn  # noqa: E402
from metamon.monitoring.ingest.writer import trace_row  # noqa: E402
from metamon.monitoring.outbox import backlog  # noqa: E402
from metamon.monitoring.search.client import get_es  # noqa: E402
from metamon.monitoring.search.documents import trace_document  # noqa: E402
from metamon.monitoring.search.indices import delete_trace_indices, template_body  # noqa: E402
from metamon.monitoring.search.queries import TraceFilters, search_traces_body  # noqa: E402
from metamon.monitoring.search.reindex import reindex  # noqa: E402

console = Console()
BATCH = 500


def pg_connect(url: str) -> psycopg.Connection:
    return connect(url, autocommit=True)


def es_document(row: dict) -> dict:
    trace = types.SimpleNamespace(
        **{k: v for k, v in row.items() if k != "metadata"}, metadata_=row["metadata"]
    )
    return trace_document(trace, [], [], [])


def bench_ingest(
    settings, env, key, project_id, n: int, clients: int, api_workers: int, indexers: int
) -> dict:
    rng = random.Random(7)
    traces = [make_trace(i, rng, T0) for i in range(n)]
    batches = [traces[i : i + BATCH] for i in range(0, n, BATCH)]
    body_bytes = sum(len(json.dumps(t)) for t in traces) / n
    console.print(f"[bold]ingest[/]: {n} traces in batches of {BATCH}, {body_bytes:.0f} bytes of JSON each")

    # Bare backend: COPY of the same rows into a table shaped like traces, bulk of the same documents.
    rows = [trace_row(project_id, TraceIn.model_validate(t)) for t in traces]
    es = get_es(settings.search.url)
    raw_index = f"{settings.search.traces_index_alias}-raw"
    es.options(ignore_status=404).indices.delete(index=raw_index)
    template = template_body(settings)["template"]
    es.indices.create(index=raw_index, settings=template["settings"], mappings=template["mappings"])
    with pg_connect(settings.database.url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw")
        conn.execute("CREATE TABLE bench_raw (LIKE traces INCLUDING ALL)")
        start = time.perf_counter()
        for i in range(0, n, BATCH):
            copy_rows(conn, "bench_raw", rows[i : i + BATCH])
        t_copy = time.perf_counter() - start
        conn.execute("DROP TABLE bench_raw")
    docs = [
        {
            "_index": raw_index,
            "_id": str(r["id"]),
            "_source": es_document({**r, "created_at": r["updated_at"]}),
        }
        for r in rows
    ]
    start = time.perf_counter()
    helpers.bulk(es, docs, chunk_size=BATCH)
    es.indices.refresh(index=raw_index)
    t_bulk = time.perf_counter() - start
    es.indices.delete(index=raw_index)

    # metamon: the API and the indexers as separate processes, as deployed.
    port = free_port()
    api = Process(["serve", "--port", str(port), "--workers", str(api_workers)], env)
    workers = [Process(["indexer"], env) for _ in range(indexers)]
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/api/v1/health")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    payloads = [json.dumps({"traces": b}).encode() for b in batches]
    latencies: list[float] = []

    def post(payload: bytes) -> None:
        with httpx.Client(timeout=60) as client:
            t = time.perf_counter()
            resp = client.post(f"{url}/api/v1/traces", content=payload, headers=headers)
            latencies.append(time.perf_counter() - t)
            resp.raise_for_status()

    sessions = session_factory(settings.database.url)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, payloads))
    t_accept = time.perf_counter() - start
    while True:
        with sessions() as session:
            if backlog(session).traces == 0:
                break
        time.sleep(0.05)
    es.indices.refresh(index=settings.search.traces_index_alias)
    t_e2e = time.perf_counter() - start
    indexed = es.count(index=settings.search.traces_index_alias)["count"]
    rss = peak_rss_mb(api.proc.pid)
    api.stop()
    for w in workers:
        w.stop()
    assert indexed == n, f"{indexed} indexed of {n}"

    raw = n / (t_copy + t_bulk)
    results = {
        "raw_copy_per_s": n / t_copy,
        "raw_bulk_per_s": n / t_bulk,
        "raw_per_s": raw,
        "accept_per_s": n / t_accept,
        "e2e_per_s": n / t_e2e,
        "batch_latency": latencies,
        "api_rss_mb": rss,
    }
    console.print(
        f"  bare backend: COPY {n / t_copy:,.0f}/s, bulk {n / t_bulk:,.0f}/s, both {raw:,.0f} traces/s"
    )
    console.print(
        f"  metamon: accepted {n / t_accept:,.0f} traces/s (batch {summary(latencies)}), "
        f"stored and indexed {n / t_e2e:,.0f} traces/s"
    )
    console.print(
        f"  ratio bare/metamon end to end: {raw / (n / t_e2e):.2f}x;  "
        f"peak RSS of one API process {rss:.0f} MB"
    )
    return results


def grow_corpus(settings, project_id, have: int, want: int) -> None:
    if want <= have:
        return
    rng = random.Random(11)
    console.print(f"[bold]search corpus[/]: adding {want - have:,} traces (COPY, then `metamon reindex`)")
    start = time.perf_counter()
    with pg_connect(settings.database.url) as conn, Progress(console=console) as progress:
        task = progress.add_task("copying", total=want - have)
        for i in range(have, want, 10_000):
            rows = [
                trace_row(project_id, TraceIn.model_validate(make_trace(j, rng, T0)))
                for j in range(i, min(want, i + 10_000))
            ]
            copy_rows(conn, "traces", rows)
            progress.advance(task, len(rows))
    console.print(f"  copied in {time.perf_counter() - start:.0f}s")
    start = time.perf_counter()
    reindex(settings, recreate=True)
    console.print(f"  reindexed in {time.perf_counter() - start:.0f}s")


def bench_search(settings, env, key, project_id, queries: int, api_workers: int) -> dict:
    es = get_es(settings.search.url)
    total = es.count(index=settings.search.traces_index_alias)["count"]
    rng = random.Random(3)
    # Topic words (each in about a fifth of the traces) alone and paired, and rarer vocabulary words.
    words = [
        *[w for topic in TOPICS.values() for w in topic[:4]],
        "refund invoice",
        "insulin dosage",
        "flight hotel",
        "password reset",
        *VOCABULARY[200:220],
    ]
    cases = []
    for _ in range(queries):
        filters = {}
        if rng.random() < 0.5:
            filters["domain"] = [rng.choice(["billing", "shipping", "healthcare", "travel", "general"])]
        if rng.random() < 0.3:
            filters["app"] = [rng.choice(["support-bot", "assistant", "search"])]
        cases.append((rng.choice(words), filters, rng.choice(["relevance", "relevance", "timestamp"])))
    port = free_port()
    api = Process(["serve", "--port", str(port), "--workers", str(api_workers)], env)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/api/v1/health")
    headers = {"Authorization": f"Bearer {key}"}
    api_times, es_times = [], []
    with httpx.Client(timeout=30) as client:
        for n, (q, filters, sort) in enumerate(cases * 2):  # the first pass warms caches and is not counted
            params = {"q": q, "sort": sort, "size": 20, **filters}
            t = time.perf_counter()
            resp = client.get(f"{url}/api/v1/search/traces", params=params, headers=headers)
            api_t = time.perf_counter() - t
            resp.raise_for_status()
            body = search_traces_body(project_id, q, TraceFilters(**filters), sort, "desc", 20, None, 10_000)
            t = time.perf_counter()
            direct = es.search(index=settings.search.traces_index_alias, **body)
            es_t = time.perf_counter() - t
            assert resp.json()["total"] == direct["hits"]["total"]["value"]
            if n >= len(cases):
                api_times.append(api_t)
                es_times.append(es_t)
    rss = peak_rss_mb(api.proc.pid)
    api.stop()
    console.print(f"[bold]search[/] on {total:,} traces, {queries} queries (full text, filters, sorts):")
    console.print(f"  Elasticsearch direct: {summary(es_times)}")
    console.print(f"  metamon API:          {summary(api_times)}")
    p95_ratio = percentile(api_times, 95) / percentile(es_times, 95)
    p50_ratio = percentile(api_times, 50) / percentile(es_times, 50)
    console.print(
        f"  ratio API/direct: p50 {p50_ratio:.2f}x, p95 {p95_ratio:.2f}x;  "
        f"peak RSS of one API process {rss:.0f} MB"
    )
    return {"corpus": total, "api_p95": percentile(api_times, 95), "es_p95": percentile(es_times, 95)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ingest", type=int, default=50_000)
    parser.add_argument("--search-corpus", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--indexers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database and indices")
    args = parser.parse_args()

    with scratch_databases("metamon_bench", keep=args.keep) as (db_url,):
        settings, env, es, key_row, key = bench_target(db_url, "metamon-bench-traces")
        project_id = key_row.project_id
        console.print(
            f"metamon benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
            f"{args.api_workers} API workers, {args.indexers} indexers, {args.clients} clients"
        )
        try:
            bench_ingest(
                settings, env, key, project_id, args.ingest, args.clients, args.api_workers, args.indexers
            )
            grow_corpus(settings, project_id, args.ingest, args.search_corpus)
            bench_search(settings, env, key, project_id, args.queries, args.api_workers)
        finally:
            if not args.keep:
                delete_trace_indices(es, settings)
                es.options(ignore_status=404).indices.delete_index_template(
                    name=settings.search.traces_index_alias
                )


if __name__ == "__main__":
    main()
