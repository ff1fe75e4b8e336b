"""OTLP ingest against REST ingest in the same run, and against Arize Phoenix on the same PostgreSQL.

    .venv/bin/python loadtests/bench_otlp.py [--spans 10000] [--clients 4] [--no-phoenix]

Every span is made once with the real OpenTelemetry SDK and sent with the SDK's own OTLPSpanExporter
(protobuf, batches of 512, one exporter per client thread), so each server receives the same bytes.
1. metamon (API processes and indexers, a scratch database and index alias), one workload after the
   other, each timed until the search API counts every trace and the index outbox is empty:
   REST    POST /api/v1/traces, batches of 500 traces of ~1 KB (bench_traces' traces), as many traces;
   root    OpenInference LLM spans of ~2 KB, one span per trace;
   multi   traces of a chain root with retriever, LLM (GenAI conventions) and tool children: each
           export holds the children of some traces and the roots of the traces before them.
2. Phoenix (`arize-phoenix[pg]` in a virtual environment of its own under .stack/, created on first use,
   loopback only, on a scratch database of the stack's PostgreSQL): the root workload's spans, until
   its GraphQL API counts them all.
Then one filtered query on both (the newest 20 of one model) p50/p95, and each server's peak RSS.
"""

import argparse
import concurrent.futures
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from opentelemetry import trace as otel_trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from rich.console import Console
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    DOMAINS,
    MODELS,
    T0,
    Process,
    bench_target,
    free_port,
    make_trace,
    peak_rss_mb,
    percentile,
    scratch_databases,
    sentence,
    summary,
    wait_http,
)

from metamon.monitoring.db.session import session_factory  # noqa: E402
from metamon.monitoring.outbox import backlog  # noqa: E402
from metamon.monitoring.search.indices import delete_trace_indices  # noqa: E402

console = Console()
EXPORT_BATCH = 512
REST_BATCH = 500
PHOENIX_VERSION = "20.26.1"
INDEXER_APP = "metamon-bench-indexer"


class Recorder(SpanExporter):
    """Keeps the SDK's finished spans, to be sent later by the real exporter."""

    def __init__(self):
        self.spans = []

    def export(self, spans):
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def _provider(recorder: Recorder) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-app"}))
    provider.add_span_processor(SimpleSpanProcessor(recorder))
    return provider


def root_spans(n: int, rng: random.Random) -> list:
    """OpenInference LLM spans of about 2 KB, one per trace."""
    recorder = Recorder()
    tracer = _provider(recorder).get_tracer("bench")
    for i in range(n):
        domain = DOMAINS[i % 5]
        with tracer.start_as_current_span("ChatOpenAI") as s:
            s.set_attribute("openinference.span.kind", "LLM")
            s.set_attribute("llm.model_name", MODELS[i % 3])
            s.set_attribute("input.value", sentence(rng, 110, domain) + "?")
            s.set_attribute("output.value", sentence(rng, 140, domain) + ".")
            s.set_attribute("llm.token_count.prompt", rng.randint(50, 800))
            s.set_attribute("llm.token_count.completion", rng.randint(10, 300))
            s.set_attribute("metamon.domain", domain)
            s.set_attribute("metamon.prompt_version", f"v{i % 4}")
            s.set_attribute("session.id", f"s-{i // 10}")
    return [[s] for s in recorder.spans]


def multi_span_traces(n_traces: int, rng: random.Random) -> list:
    """Traces of four spans: a chain root, a retriever, an LLM call (GenAI conventions), a tool call."""
    recorder = Recorder()
    tracer = _provider(recorder).get_tracer("bench")
    for i in range(n_traces):
        domain = DOMAINS[i % 5]
        question = sentence(rng, 30, domain) + "?"
        answer = sentence(rng, 45, domain) + "."
        with tracer.start_as_current_span("answer") as root:
            root.set_attribute("openinference.span.kind", "CHAIN")
            root.set_attribute("input.value", question)
            root.set_attribute("metamon.domain", domain)
            with tracer.start_as_current_span("retrieve") as r:
                r.set_attribute("gen_ai.operation.name", "retrieval")
                r.set_attribute("gen_ai.data_source.id", "kb")
                r.set_attribute("gen_ai.retrieval.query.text", question)
                docs = [
                    {
                        "id": f"doc-{(i + k) % 500}",
                        "score": 0.9 - k / 10,
                        "content": sentence(rng, 25, domain),
                    }
                    for k in range(2)
                ]
                r.set_attribute("gen_ai.retrieval.documents", orjson.dumps(docs).decode())
            with tracer.start_as_current_span(f"chat {MODELS[i % 3]}") as c:
                c.set_attribute("gen_ai.operation.name", "chat")
                c.set_attribute("gen_ai.provider.name", "openai")
                c.set_attribute("gen_ai.request.model", MODELS[i % 3])
                c.set_attribute("gen_ai.response.model", MODELS[i % 3])
                c.set_attribute("gen_ai.usage.input_tokens", rng.randint(50, 800))
                c.set_attribute("gen_ai.usage.output_tokens", rng.randint(10, 300))
                c.set_attribute("gen_ai.response.finish_reasons", ["stop"])
                c.set_attribute(
                    "gen_ai.output.messages",
                    orjson.dumps(
                        [{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]
                    ).decode(),
                )
            with tracer.start_as_current_span("execute_tool lookup_order") as t:
                t.set_attribute("gen_ai.operation.name", "execute_tool")
                t.set_attribute("gen_ai.tool.name", "lookup_order")
                t.set_attribute("gen_ai.tool.call.arguments", f'{{"order": {i}}}')
                t.set_attribute("gen_ai.tool.call.result", '{"status": "shipped"}')
            root.set_attribute("output.value", answer)
    by_trace: dict[int, list] = {}
    for s in recorder.spans:
        by_trace.setdefault(s.context.trace_id, []).append(s)
    return list(by_trace.values())


def split_exports(traces: list[list]) -> list[list]:
    """Batches of 512 spans, each the children of some traces and the roots of the previous ones: a
    trace's spans always arrive over two exports."""
    per = EXPORT_BATCH // max(len(t) for t in traces)
    groups = [traces[i : i + per] for i in range(0, len(traces), per)]
    batches, held = [], []
    for group in groups:
        batches.append([s for t in group for s in t if s.parent is not None] + held)
        held = [s for t in group for s in t if s.parent is None]
    batches.append(held)
    return [b for b in batches if b]


def flat_exports(traces: list[list]) -> list[list]:
    spans = [s for t in traces for s in t]
    return [spans[i : i + EXPORT_BATCH] for i in range(0, len(spans), EXPORT_BATCH)]


def send_otlp(endpoint: str, headers: dict, batches: list[list], clients: int) -> list[float]:
    """Each client thread its own OTLPSpanExporter, exporting its share of the batches in turn."""
    latencies: list[float] = []

    def client(share: list[list]) -> None:
        exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=60)
        for batch in share:
            t = time.perf_counter()
            result = exporter.export(batch)
            latencies.append(time.perf_counter() - t)
            if result is not SpanExportResult.SUCCESS:
                raise RuntimeError(f"export to {endpoint} failed")
        exporter.shutdown()

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, [batches[i::clients] for i in range(clients)]))
    return latencies


def send_rest(url: str, headers: dict, traces: list[dict], clients: int) -> list[float]:
    payloads = [
        orjson.dumps({"traces": traces[i : i + REST_BATCH]}) for i in range(0, len(traces), REST_BATCH)
    ]
    latencies: list[float] = []

    def post(share: list[bytes]) -> None:
        with httpx.Client(timeout=60) as http:
            for payload in share:
                t = time.perf_counter()
                http.post(f"{url}/api/v1/traces", content=payload, headers=headers).raise_for_status()
                latencies.append(time.perf_counter() - t)

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, [payloads[i::clients] for i in range(clients)]))
    return latencies


def wait_metamon(url: str, key: str, db_url: str, expected: int, timeout: float = 600) -> None:
    """Until the outbox is drained and the search API counts every trace."""
    sessions = session_factory(db_url)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {key}"}) as http:
        while time.monotonic() < deadline:
            with sessions() as session:
                pending = backlog(session).traces
            if pending == 0:
                total = http.get(f"{url}/api/v1/search/aggregations").raise_for_status().json()["total"]
                if total >= expected:
                    return
            time.sleep(0.05)
    raise RuntimeError(f"metamon did not store and index {expected} traces within {timeout}s")


def wait_indexers(db_url: str, n: int, timeout: float = 180) -> None:
    """Until n indexers hold a connection to the database: importing takes tens of seconds on a busy
    machine, which would otherwise count against the first workload."""
    sessions = session_factory(db_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as session:
            connected = session.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app"),
                {"app": INDEXER_APP},
            )
        if connected >= n:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{n} indexers did not start within {timeout}s")


def bench_metamon(settings, env, key, db_url, workloads: dict, clients, api_workers, indexers) -> dict:
    port = free_port()
    api = Process(["serve", "--port", str(port), "--workers", str(api_workers)], env)
    # libpq names the indexers' connections, so the runs start once every indexer is draining.
    workers = [Process(["indexer"], {**env, "PGAPPNAME": INDEXER_APP}) for _ in range(indexers)]
    url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    results, done = {}, 0
    try:
        wait_http(f"{url}/api/v1/health", timeout=180)  # slow to start on a busy machine
        wait_indexers(db_url, indexers)
        for name, (kind, payload, units, traces) in workloads.items():
            start = time.perf_counter()
            if kind == "rest":
                latencies = send_rest(url, {**headers, "Content-Type": "application/json"}, payload, clients)
            else:
                latencies = send_otlp(f"{url}/v1/traces", headers, payload, clients)
            accepted = time.perf_counter() - start
            done += traces
            wait_metamon(url, key, db_url, done)
            elapsed = time.perf_counter() - start
            results[name] = {
                "units": units,
                "accept": units / accepted,
                "e2e": units / elapsed,
                "lat": latencies,
            }
            unit = "traces" if kind == "rest" else "spans"
            console.print(
                f"  {name:6} {units:>7,} {unit}: accepted {units / accepted:,.0f}/s, stored and indexed "
                f"{units / elapsed:,.0f}/s; per request {summary(latencies)}"
            )
        results["rss"] = peak_rss_mb(api.proc.pid)
        results["query"] = query_metamon(url, headers)
    finally:
        api.stop()
        for w in workers:
            w.stop()
    return results


def query_metamon(url: str, headers: dict, n: int = 50) -> list[float]:
    times = []
    with httpx.Client(timeout=30, headers=headers) as http:
        for i in range(n * 2):  # the first half warms caches
            t = time.perf_counter()
            http.get(
                f"{url}/api/v1/search/traces", params={"model": MODELS[i % 3], "size": 20}
            ).raise_for_status()
            if i >= n:
                times.append(time.perf_counter() - t)
    return times


def phoenix_python(stack_dir: Path) -> Path:
    venv = stack_dir / "phoenix-venv"
    python = venv / "bin" / "python"
    if not (venv / "bin" / "phoenix").exists():
        console.print(f"  creating {venv} with arize-phoenix[pg]=={PHOENIX_VERSION} (once)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"arize-phoenix[pg]=={PHOENIX_VERSION}"], check=True
        )
    return venv / "bin" / "phoenix"


def phoenix_count(http: httpx.Client, url: str) -> int:
    query = "{ projects { edges { node { name recordCount } } } }"
    data = http.post(f"{url}/graphql", json={"query": query}).raise_for_status().json()["data"]
    return sum(e["node"]["recordCount"] for e in data["projects"]["edges"])


def bench_phoenix(settings, db_url: str, batches: list[list], n_spans: int, clients: int) -> dict:
    executable = phoenix_python(settings.stack.dir)
    port, grpc_port = free_port(), free_port()
    workdir = settings.stack.dir / "phoenix-work"
    workdir.mkdir(exist_ok=True)
    pg = make_url(db_url)
    env = {
        **os.environ,
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_SQL_DATABASE_URL": pg.set(drivername="postgresql").render_as_string(hide_password=False),
        "PHOENIX_WORKING_DIR": str(workdir),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = open(settings.stack.dir / "logs" / "phoenix-bench.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(executable), "serve"], env=env, stdout=log, stderr=log, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", timeout=180)
        start = time.perf_counter()
        latencies = send_otlp(f"{url}/v1/traces", {}, batches, clients)
        accepted = time.perf_counter() - start
        with httpx.Client(timeout=60) as http:
            deadline = time.monotonic() + 3600
            while phoenix_count(http, url) < n_spans:
                if time.monotonic() > deadline:
                    raise RuntimeError("Phoenix did not store every span within an hour")
                time.sleep(0.5)
            elapsed = time.perf_counter() - start
            times = []
            for i in range(100):
                t = time.perf_counter()
                http.get(
                    f"{url}/v1/projects/default/spans",
                    params={"attribute": f'llm.model_name:"{MODELS[i % 3]}"', "limit": 20},
                ).raise_for_status()
                if i >= 50:
                    times.append(time.perf_counter() - t)
        rss = peak_rss_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
        log.close()
    console.print(
        f"  root   {n_spans:>7,} spans: accepted {n_spans / accepted:,.0f}/s, stored and queryable "
        f"{n_spans / elapsed:,.0f}/s; per export {summary(latencies)}"
    )
    return {
        "accept": n_spans / accepted,
        "e2e": n_spans / elapsed,
        "lat": latencies,
        "rss": rss,
        "query": times,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=10_000, help="spans per workload")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--api-workers", type=int, default=1)
    parser.add_argument("--indexers", type=int, default=2)
    parser.add_argument("--no-phoenix", action="store_true")
    parser.add_argument(
        "--workloads", default="REST,root,multi", help="comma-separated, of REST, root, multi (for profiling)"
    )
    args = parser.parse_args()

    rng = random.Random(5)
    n = args.spans
    console.print(f"OTLP benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: making {n:,} spans per workload")
    roots = root_spans(n, rng)
    multi = multi_span_traces(n // 4, rng)
    root_batches = flat_exports(roots)
    workloads = {
        "REST": ("rest", [make_trace(i, rng, T0) for i in range(n)], n, n),
        "root": ("otlp", root_batches, n, n),
        "multi": ("otlp", split_exports(multi), sum(map(len, multi)), len(multi)),
    }
    workloads = {name: w for name, w in workloads.items() if name in args.workloads.split(",")}
    otel_trace.set_tracer_provider(TracerProvider())  # keep the SDK's own global provider out of the way
    with (
        scratch_databases("metamon_bench_otlp") as (db_url,),
        scratch_databases("phoenix_bench", migrated=False) as (phoenix_url,),
    ):
        settings, env, es, _, key = bench_target(db_url, "metamon-bench-otlp")
        try:
            console.print(
                f"[bold]metamon[/]: {args.api_workers} API workers, {args.indexers} indexers, "
                f"{args.clients} clients"
            )
            m = bench_metamon(
                settings, env, key, db_url, workloads, args.clients, args.api_workers, args.indexers
            )
            p = None
            if not args.no_phoenix:
                console.print(f"[bold]Phoenix {PHOENIX_VERSION}[/] on PostgreSQL, the root workload's spans")
                p = bench_phoenix(settings, phoenix_url, root_batches, n, args.clients)
        finally:
            delete_trace_indices(es, settings)
            es.options(ignore_status=404).indices.delete_index_template(
                name=settings.search.traces_index_alias
            )

    console.print("[bold]ratios[/] (same run)")
    for name in [n for n in ("root", "multi") if n in m and "REST" in m]:
        console.print(
            f"  OTLP {name} spans/s / REST traces/s, stored and indexed: "
            f"{m[name]['e2e'] / m['REST']['e2e']:.2f}x"
        )
    console.print(f"  metamon: filtered query {summary(m['query'])}; peak RSS of the API {m['rss']:.0f} MB")
    if p:
        console.print(f"  Phoenix: filtered query {summary(p['query'])}; peak RSS {p['rss']:.0f} MB")
        console.print(
            f"  metamon / Phoenix, root spans stored and queryable: {m['root']['e2e'] / p['e2e']:.1f}x; "
            f"export p50 {percentile(p['lat'], 50) / percentile(m['root']['lat'], 50):.1f}x faster; "
            f"query p50 {percentile(p['query'], 50) / percentile(m['query'], 50):.1f}x, "
            f"p95 {percentile(p['query'], 95) / percentile(m['query'], 95):.1f}x faster"
        )


if __name__ == "__main__":
    main()
