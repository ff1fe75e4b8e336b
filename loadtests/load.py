"""`make load`: locust headless on the mixed load of locustfile.py against the local stack's API, at one or
more user counts, each for a bounded time, loopback only.

For each user count it writes locust's CSV and HTML reports under --out and prints (and writes to
summary.md) p50/p95/p99 per endpoint, failures and the API's peak RSS (each process, and all of them),
against the target: p95 <= 200 ms on every endpoint, no failure, no API process above 300 MB. With
several counts (`--users 50,100,150`) it names the largest that meets the target.

    .venv/bin/python loadtests/load.py --users 100 --run-time 60s
"""

import argparse
import csv
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import METAMON, _children, wait_http  # noqa: E402

from metamon.monitoring.settings import get_settings  # noqa: E402

HERE = Path(__file__).resolve().parent
LOCUST = str(Path(sys.executable).parent / "locust")
P95_TARGET_MS, RSS_TARGET_MB = 200, 300


@dataclass
class Endpoint:
    name: str
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float


@dataclass
class Run:
    users: int
    endpoints: list[Endpoint]
    total: Endpoint
    peak_rss_mb: dict[int, float]  # per API process
    errors: list[str]

    @property
    def meets_target(self) -> bool:
        return (
            self.total.failures == 0
            and all(e.p95 <= P95_TARGET_MS for e in self.endpoints)
            and max(self.peak_rss_mb.values(), default=0) <= RSS_TARGET_MB
        )


def api_pids(port: int) -> list[int]:
    """The `metamon serve` listening on `port` and its uvicorn workers."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in args and str(port).encode() in args and any(a.endswith(b"metamon") for a in args):
            pid = int(proc.name)
            return [pid, *_children(pid)]
    raise SystemExit(f"no `metamon serve` on port {port}: start the stack (`metamon stack up`)")


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    """The peak resident memory of each API process while the load runs (sampled every 0.25 s)."""

    def __init__(self, pids: list[int]):
        super().__init__(daemon=True)
        self.pids, self.peak, self.stopping = pids, dict.fromkeys(pids, 0.0), threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.25):
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], _rss_mb(pid))


def _ms(value: str) -> float:
    return float(value) if value not in ("", "N/A") else 0.0


def read_stats(prefix: Path) -> tuple[list[Endpoint], Endpoint]:
    rows = list(csv.DictReader(prefix.with_name(prefix.name + "_stats.csv").open()))
    endpoints = [
        Endpoint(
            name=row["Name"],
            requests=int(row["Request Count"]),
            failures=int(row["Failure Count"]),
            rps=float(row["Requests/s"]),
            p50=_ms(row["50%"]),
            p95=_ms(row["95%"]),
            p99=_ms(row["99%"]),
        )
        for row in rows
    ]
    total = next(e for e in endpoints if e.name == "Aggregated")
    return [e for e in endpoints if e.name != "Aggregated"], total


def read_errors(prefix: Path) -> list[str]:
    path = prefix.with_name(prefix.name + "_failures.csv")
    if not path.exists():
        return []
    return [f"{r['Occurrences']}x {r['Name']}: {r['Error']}" for r in csv.DictReader(path.open())]


def run_load(host: str, users: int, spawn_rate: float, run_time: str, out: Path, env: dict) -> Run:
    prefix = out / f"users-{users}"
    sampler = RssSampler(api_pids(urlparse(host).port))
    sampler.start()
    command = [
        LOCUST,
        "-f",
        str(HERE / "locustfile.py"),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(spawn_rate),
        "--run-time",
        run_time,
        "--stop-timeout",
        "10",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--html",
        str(prefix.with_suffix(".html")),
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    print(f"{users} users for {run_time}: {' '.join(command)}", flush=True)
    subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL)
    sampler.stopping.set()
    sampler.join()
    endpoints, total = read_stats(prefix)
    return Run(users, endpoints, total, sampler.peak, read_errors(prefix))


def report(run: Run) -> str:
    lines = [
        f"### {run.users} users: {'meets' if run.meets_target else 'misses'} the target",
        "",
        "| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | failures |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for e in [*sorted(run.endpoints, key=lambda e: e.name), run.total]:
        mark = " (over)" if e.p95 > P95_TARGET_MS and e is not run.total else ""
        lines.append(
            f"| {e.name} | {e.requests} | {e.rps:.1f} | {e.p50:.0f} | {e.p95:.0f}{mark} | {e.p99:.0f} "
            f"| {e.failures} |"
        )
    rss = ", ".join(f"{mb:.0f}" for mb in run.peak_rss_mb.values())
    lines += ["", f"API peak RSS (MB, master then workers): {rss}; all: {sum(run.peak_rss_mb.values()):.0f}"]
    if run.errors:
        lines += ["", "Failures:", *(f"- {error}" for error in run.errors[:10])]
    return "\n".join(lines) + "\n"


def main() -> None:
    settings = get_settings()
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--users", default="100", help="one count or several, comma-separated")
    parser.add_argument("--spawn-rate", type=float, default=20, help="users started per second")
    parser.add_argument("--run-time", default="60s", help="per user count (locust's syntax: 60s, 2m)")
    parser.add_argument("--host", default=f"http://127.0.0.1:{settings.api.port}")
    parser.add_argument("--out", type=Path, default=Path(".stack/load"))
    args = parser.parse_args()
    if urlparse(args.host).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the load runs on loopback only")
    wait_http(f"{args.host}/api/v1/health")
    args.out.mkdir(parents=True, exist_ok=True)
    project = f"load-{int(time.time())}"
    created = subprocess.run(
        [METAMON, "keys", "create", "--project", project, "--scopes", "ingest,read,review"],
        capture_output=True,
        text=True,
        check=True,
    )
    env = {
        **os.environ,
        "METAMON_KEY": created.stdout.strip().splitlines()[-1],
        "METAMON_WEBHOOK_TOKEN": settings.alerting.webhook_token,
    }
    runs = []
    for users in (int(u) for u in args.users.split(",")):
        runs.append(run := run_load(args.host, users, args.spawn_rate, args.run_time, args.out, env))
        print(report(run), flush=True)
    summary = [f"# make load: project {project}, {args.run_time} per user count, API {args.host}", ""]
    summary += [report(run) for run in runs]
    if len(runs) > 1:
        passing = [run.users for run in runs if run.meets_target]
        best = f"{max(passing)} users" if passing else "none of the counts tried"
        summary.append(f"Largest user count meeting the target: {best}\n")
        print(summary[-1])
    (args.out / "summary.md").write_text("\n".join(summary))
    print(f"reports: {args.out}/users-N_stats.csv, users-N.html, summary.md")


if __name__ == "__main__":
    main()
