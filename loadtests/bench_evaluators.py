"""Throughput of the code evaluators on generated traces (one core, in process).

.venv/bin/python loadtests/bench_evaluators.py [--traces 20000]
"""

import argparse
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import T0, make_trace  # noqa: E402

from agents.evaluation.registry import build_evaluators  # noqa: E402
from monitoring.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(5)
    traces = []
    for i in range(args.traces):
        t = make_trace(i, rng, T0)
        t["reference"] = {"facts": [f"Refunds take {i % 60} days", "The fee is $25.99"]} if i % 2 else None
        t["output"] += f" Refunds take {i % 45} days and the fee is $25.99. Contact help@example.com."
        traces.append(SimpleNamespace(**t, output_schema=None, error_type=None))
    evaluators = [e for e in build_evaluators(Settings()) if e.kind == "code"]
    print(f"{args.traces:,} traces (~1.1 KB), code evaluators: {', '.join(e.name for e in evaluators)}")
    total = 0.0
    for evaluator in evaluators:
        start = time.perf_counter()
        for trace in traces:
            evaluator.evaluate(trace)
        elapsed = time.perf_counter() - start
        total += elapsed
        print(f"  {evaluator.name:<15} {args.traces / elapsed:>10,.0f} traces/s")
    print(f"  all code evaluators together: {args.traces / total:,.0f} traces/s on one core")


if __name__ == "__main__":
    main()
