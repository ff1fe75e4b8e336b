"""`make bench`: every benchmark of loadtests/ (each `bench_*.py`, then the mixed load of load.py) run one
after the other against the local stack, and loadtests/RESULTS.md written: the machine, the exact commands,
and each benchmark's own report, which sets every figure beside its bare-backend or peer figure from the
same run, with the ratio.

The common interface is the command line: a benchmark is a script taking its sizes as options and printing
its figures. SIZES gives each known one its options per size; a `bench_*.py` not listed (a new one) runs
with its own defaults, and RESULTS.md says so.

    .venv/bin/python loadtests/bench.py                      # small sizes: a few minutes
    .venv/bin/python loadtests/bench.py --size full          # the sizes the README quotes
    .venv/bin/python loadtests/bench.py --only traces,load   # some of them
"""

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
SIZES: dict[str, dict[str, list[str]]] = {
    "bench_traces.py": {
        "small": ["--ingest", "5000", "--search-corpus", "20000", "--queries", "50"],
        "full": ["--ingest", "50000", "--search-corpus", "1000000"],
    },
    "bench_evaluators.py": {
        "small": ["--traces", "5000", "--agent-traces", "20000"],
        "full": ["--agent-traces", "1000000"],
    },
    "bench_exporter.py": {"small": ["--series", "2000", "--scrapes", "20"], "full": ["--series", "10000"]},
    "bench_webhook.py": {"small": ["--notifications", "500", "--replays", "2", "--rounds", "1"], "full": []},
    "bench_research.py": {
        "small": ["--window", "10000", "--baseline", "70000", "--runs", "2"],
        "full": ["--window", "100000", "--baseline", "700000"],
    },
    "bench_otlp.py": {"small": ["--spans", "2000"], "full": ["--spans", "10000"]},
    "bench_efficacy.py": {"small": ["--scenarios", "prompt-version,null"], "full": []},
    "load.py": {
        "small": ["--users", "100", "--run-time", "30s"],
        "full": ["--users", "50,100,150,200", "--run-time", "60s"],
    },
}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def benchmarks() -> list[str]:
    """Every bench_*.py present, then the load (it is the slowest and the noisiest neighbour)."""
    return [*sorted(p.name for p in HERE.glob("bench_*.py")), "load.py"]


def machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    memory = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line
    )
    return [
        f"- CPU: {cpu}, {len(os.sched_getaffinity(0))} cores usable; memory {int(memory) // 1024 // 1024} GB",
        f"- {platform.platform()}, Python {platform.python_version()}",
        f"- load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}",
    ]


def clean(output: str) -> str:
    """The report as a reader wants it: no colour codes, no progress lines overwritten in place."""
    lines = [ANSI.sub("", line).rsplit("\r", 1)[-1] for line in output.splitlines()]
    return "\n".join(line for line in lines if line.strip())


def run(name: str, size: str) -> tuple[str, str, int, float]:
    args = SIZES.get(name, {}).get(size)
    note = "" if args is not None else " (not in bench.py's SIZES: its own defaults)"
    command = [PYTHON, str(HERE / name), *(args or [])]
    shown = " ".join([".venv/bin/python", f"loadtests/{name}", *(args or [])])
    print(f"== {shown}{note}", flush=True)
    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    print(clean(done.stdout)[-3000:], flush=True)
    if done.returncode:
        print(clean(done.stderr)[-2000:], flush=True)
    report = clean(done.stdout) + ("\n" + clean(done.stderr)[-2000:] if done.returncode else "")
    return shown + note, report, done.returncode, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=["small", "full"], default="small")
    parser.add_argument("--only", default="", help="comma-separated names: traces, webhook, load...")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    names = [n for n in benchmarks() if not wanted or n.removeprefix("bench_").removesuffix(".py") in wanted]
    head = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`loadtests/bench.py --size {args.size}`) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}. Each benchmark sets metamon's "
        "figure beside the bare backend's (or a peer's) measured in the same run, with the ratio: "
        "compare ratios across runs, not absolute figures. Measured while other work ran on the "
        "machine unless the load average says otherwise.",
        "",
        *machine(),
        "",
    ]
    sections = []
    for name in names:
        shown, report, code, elapsed = run(name, args.size)
        status = "" if code == 0 else f" — **exit status {code}**"
        sections += [
            f"## {name}",
            "",
            f"    {shown}",
            "",
            f"{elapsed:.0f} s{status}",
            "",
            "```",
            report,
            "```",
            "",
        ]
    missing = [n for n in SIZES if n not in benchmarks()]
    if missing:
        sections += ["Not present yet: " + ", ".join(missing) + ".", ""]
    tail = [f"Load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", ""]
    args.out.write_text("\n".join(head + sections + tail))
    print(f"wrote {args.out}")


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE)
    return done.stdout.strip() or "?"


if __name__ == "__main__":
    main()
