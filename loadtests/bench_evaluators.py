"""Evaluation throughput: the code evaluators in process, then the evaluation agent end to end against the
bare backend's I/O for the same traces, in the same run.

    .venv/bin/python loadtests/bench_evaluators.py [--traces 20000] [--agent-traces 200000] [--workers 2]

1. In process, on generated ~1 KB traces (half with reference facts, PII in some, numbers in most): each
   code evaluator on one core, all of them on one core, and all of them on `--workers` processes at once.
   Target: >= 5,000 traces/s for the code evaluators on 2 cores.
2. The agent: `--agent-traces` traces COPied into a scratch database, then `--workers` `metamon evaluate`
   processes claim batches (FOR UPDATE SKIP LOCKED), score, and write scores, counters and the index
   outbox, until the backlog is empty. Bare backend: reading the same traces' scoring columns with COPY
   and COPYing the same number of score rows into a plain table. Printed: traces/s, the ratio of the
   agent's time to the bare I/O's and to the evaluators' own compute, and each process's peak RSS
   (budget 500 MB at 1,000,000 traces).
"""

import argparse
import multiprocessing
import os
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import METAMON, T0, copy_rows, make_trace, scratch_databases  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402

from metamon.agents.evaluation.registry import build_evaluators  # noqa: E402
from metamon.monitoring.db.connect import connect  # noqa: E402
from metamon.monitoring.ingest.schemas import TraceIn  # noqa: E402
from metamon.monitoring.ingest.writer import trace_row  # noqa: E402
from metamon.monitoring.settings import Settings  # noqa: E402

console = Console(width=120)
TARGET = 5_000
SEED_BATCH = 5_000
SCORING_COLUMNS = (
    "id, project_id, app, model, input, output, retrieved_context, reference, output_schema, "
    "latency_seconds, input_tokens, output_tokens, cost_usd, status, error_type"
)


def bench_trace(i: int, rng: random.Random) -> dict:
    trace = make_trace(i, rng, T0)
    trace["reference"] = {"facts": [f"Refunds take {i % 60} days", "The fee is $25.99"]} if i % 2 else None
    trace["output"] += f" Refunds take {i % 45} days and the fee is $25.99. Contact help@example.com."
    return trace


def verdict(rate: float) -> str:
    return "met" if rate >= TARGET else "NOT met"


def code_evaluators() -> list:
    return [e for e in build_evaluators(Settings()) if e.kind == "code"]


def _score_share(args: tuple[int, int, int]) -> float:
    """In a pool process: build traces start, start+step, ... below n and score them; returns seconds."""
    start, step, n = args
    rng = random.Random(5 + start)
    traces = [
        SimpleNamespace(**bench_trace(i, rng), output_schema=None, error_type=None)
        for i in range(start, n, step)
    ]
    evaluators = code_evaluators()
    began = time.perf_counter()
    for trace in traces:
        for evaluator in evaluators:
            evaluator.evaluate(trace)
    return time.perf_counter() - began


def in_process(n: int, workers: int) -> float:
    """Traces/s of all code evaluators on `workers` processes (their compute alone)."""
    rng = random.Random(5)
    traces = [SimpleNamespace(**bench_trace(i, rng), output_schema=None, error_type=None) for i in range(n)]
    evaluators = code_evaluators()
    names = [e.name for e in evaluators]
    console.print(f"[bold]in process[/]: {n:,} traces (~1.1 KB), code evaluators: {', '.join(names)}")
    total = 0.0
    for evaluator in evaluators:
        start = time.perf_counter()
        for trace in traces:
            evaluator.evaluate(trace)
        elapsed = time.perf_counter() - start
        total += elapsed
        console.print(f"  {evaluator.name:<15} {n / elapsed:>10,.0f} traces/s on one core")
    console.print(f"  all together     {n / total:>10,.0f} traces/s on one core")
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        began = time.perf_counter()
        busiest = max(pool.map(_score_share, [(w, workers, n) for w in range(workers)]))
        wall = time.perf_counter() - began
    rate = n / busiest
    console.print(
        f"  all together     {rate:>10,.0f} traces/s on {workers} processes (the busiest one's compute; "
        f"{n / wall:,.0f}/s counting start-up), target >= {TARGET:,}: {verdict(rate)}"
    )
    return rate


def seed(database_url: str, n: int) -> None:
    rng = random.Random(11)
    with (
        connect(database_url, autocommit=True) as conn,
        Progress(console=console, transient=True) as progress,
    ):
        project_id = uuid.uuid4()
        conn.execute(
            "INSERT INTO projects (id, slug, name) VALUES (%s, 'bench-eval', 'bench')", (project_id,)
        )
        task = progress.add_task("seeding traces", total=n)
        for first in range(0, n, SEED_BATCH):
            batch = [bench_trace(i, rng) for i in range(first, min(first + SEED_BATCH, n))]
            copy_rows(conn, "traces", [trace_row(project_id, TraceIn.model_validate(t)) for t in batch])
            progress.advance(task, len(batch))
        conn.execute("ANALYZE traces")


def bare_io(database_url: str, n: int, scores_per_trace: int) -> float:
    """Seconds for the bare backend: read every trace's scoring columns, write the score rows."""
    with connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE UNLOGGED TABLE bench_scores (LIKE trace_evaluations INCLUDING DEFAULTS)")
        start = time.perf_counter()
        ids = []
        with conn.cursor().copy(f"COPY (SELECT {SCORING_COLUMNS} FROM traces) TO STDOUT") as copy:
            for row in copy.rows():
                ids.append((row[0], row[1]))
        columns = "(trace_id, project_id, evaluator, kind, score, passed, reason, details)"
        with conn.cursor().copy(f"COPY bench_scores {columns} FROM STDIN") as copy:
            for trace_id, project_id in ids:
                for k in range(scores_per_trace):
                    copy.write_row(
                        (trace_id, project_id, f"e{k}", "code", 1.0, True, "passed", '{"failed": {}}')
                    )
        elapsed = time.perf_counter() - start
        conn.execute("DROP TABLE bench_scores")
    if len(ids) != n:
        raise SystemExit(f"read {len(ids)} traces, seeded {n}")
    return elapsed


def peak_rss_while_running(procs: list[subprocess.Popen]) -> dict[int, float]:
    """Poll each process's VmHWM until all exit (it is gone once they do); MB per pid."""
    peaks = {p.pid: 0.0 for p in procs}
    while any(p.poll() is None for p in procs):
        for p in procs:
            try:
                for line in Path(f"/proc/{p.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peaks[p.pid] = max(peaks[p.pid], int(line.split()[1]) / 1024)
            except FileNotFoundError:
                pass
        time.sleep(0.2)
    return peaks


def agent(n: int, workers: int, compute_rate: float) -> None:
    with scratch_databases("metamon_bench_evaluation") as (database_url,):
        console.print(f"[bold]agent[/]: {n:,} traces, {workers} `metamon evaluate` processes")
        start = time.perf_counter()
        seed(database_url, n)
        console.print(f"  seeded in {time.perf_counter() - start:.0f} s")
        scores = len(code_evaluators())
        bare = bare_io(database_url, n, scores)
        env = {**os.environ, "METAMON_DATABASE_URL": database_url}
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [METAMON, "evaluate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            for _ in range(workers)
        ]
        peaks = peak_rss_while_running(procs)
        elapsed = time.perf_counter() - start
        outputs = [p.stdout.read().strip() for p in procs]
        with connect(database_url, autocommit=True) as conn:
            left = conn.execute("SELECT count(*) FROM traces WHERE evaluated_at IS NULL").fetchone()[0]
            rows = conn.execute("SELECT count(*) FROM trace_evaluations").fetchone()[0]
    if any(p.returncode for p in procs) or left:
        raise SystemExit(
            f"evaluation failed: exit codes {[p.returncode for p in procs]}, {left} left: {outputs}"
        )
    console.print(
        f"  bare backend I/O (COPY out {n:,} traces, COPY in {n * scores:,} scores): {bare:.1f} s, "
        f"{n / bare:,.0f} traces/s"
    )
    console.print(
        f"  metamon agent: {elapsed:.1f} s, {n / elapsed:,.0f} traces/s ({rows:,} scores written); "
        f"target >= {TARGET:,}: {verdict(n / elapsed)}"
    )
    console.print(
        f"  ratio: {elapsed / bare:.2f}x the bare I/O; "
        f"{elapsed / (n / compute_rate + bare):.2f}x the bare I/O plus "
        f"the evaluators' compute on {workers} processes"
    )
    for pid, peak in peaks.items():
        console.print(f"  peak RSS of evaluate process {pid}: {peak:.0f} MB (budget 500 MB)")
    for line in outputs:
        console.print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=20_000, help="for the in-process part")
    parser.add_argument("--agent-traces", type=int, default=200_000, help="0 skips the agent")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    console.print(f"evaluation benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    rate = in_process(args.traces, args.workers)
    if args.agent_traces:
        agent(args.agent_traces, args.workers, rate)


if __name__ == "__main__":
    main()
