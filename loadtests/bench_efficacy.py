"""Fault injection: does an alert become the *right* proposal? Scenarios through the public API only.

    .venv/bin/python loadtests/bench_efficacy.py [--scenarios prompt-version,null] [--json] [--timeout 180]
        [--scratch] [--list]

For each scenario: a fresh project (its key from `metamon keys create`), a week of healthy, noisy
history sent through `POST /api/v1/traces` with past timestamps, then the last hour with a fault that
began 40 minutes ago (or none: the null scenario), `POST /api/v1/control/evaluate`, and the real
Prometheus -> Alertmanager -> webhook -> worker path on the fast alerting profile. Then the app stays
live: its traffic keeps arriving (`live_per_second`, the fault still on, evaluated every
EVALUATE_EVERY seconds as the scheduler would), so rate alerts see requests arrive and research revises
its proposals as evidence grows. The benchmark reads `GET /api/v1/alerts` and `GET /api/v1/proposals/{id}`
until every fault scenario's proposal is settled (a hit, or a typed change that is not provisional) or
`--timeout`, and prints a table: the first alert and when it was stored (seconds after the fault's
traces were sent), when the first proposal appeared, the top root cause, hit or miss, the confidence the
proposal states ("-" when it states none) and the wrong confident proposals.

The loop: by default the running stack (`metamon stack up`): its API, exporter and worker, and its
Prometheus and Alertmanager when it runs `METAMON_ALERTING_PROFILE=fast`; on the standard profile the
benchmark starts a fast-profile Prometheus and Alertmanager of its own on loopback, scraping the stack's
exporter and calling the stack's webhook (the stack's own Prometheus would page 15 minutes later).
`--scratch` runs everything (API, exporter, worker, Prometheus, Alertmanager) on a scratch database
that is dropped at the end. Projects made on the stack are left there, named efficacy-<time>-<scenario>.

The scenarios are data (SCENARIOS below): the traffic, the fault (which traces, what goes wrong, from
when) and the expected root cause. A proposal hits when its root cause names every expected term: a
`dimension=value` written in any of the spellings listed (a pair needs both halves). A proposal is
*confident* when the confidence it states is above low (a number >= CONFIDENT_AT, or a level other than
low) and it is not marked provisional; a typed change that states no confidence at all counts as
confident (nothing tells the reader to doubt it, and a low-risk one can be auto-approved). An
`investigate` proposal abstains: never a hit, never confident.

Rate alerts (errors, latency) read counters that count at ingest time: the week of history arrives
more than `backfill_after_seconds` late and is counted apart; the last hour arrives at once, so the
counters' series are born holding it and Prometheus sees no rate in it (a series' first sample is no
increase): the live traffic after it is what the rate alerts see, as they would in production.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import yaml
from rich.console import Console
from rich.table import Table

LOADTESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(LOADTESTS), str(LOADTESTS.parent)]  # common.py; the tests' live helpers
from common import METAMON, scratch_databases, sentence  # noqa: E402

from metamon.monitoring.alerting.alertmanager_config import render  # noqa: E402
from metamon.monitoring.settings import Settings, get_settings  # noqa: E402
from tests.live import alertmanager, api_server, exporter, fast_loop_config, prometheus, worker  # noqa: E402

console = Console(stderr=True, width=150, log_path=False)

# --- the scenarios: data in efficacy_scenarios.yaml --------------------------------------------------

SCENARIO_FILE = LOADTESTS / "efficacy_scenarios.yaml"
DOCS_PER_SOURCE = {"help-center": 60, "faq": 30, "policies": 40}
POPULAR_SOURCE, POPULAR_NUMBER = "help-center", 17  # the document of the `popular_doc` flag
PROMPT_CHANGE_DAYS = 2  # v2 until two days ago, v3 since: the innocent prompt serving the whole window
HISTORY_TRACES = 1400


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str
    fault: str  # what happens, in words
    metric: str  # the research metric the fault shows in
    when: dict | None  # which traces fail after the onset; None: no fault
    effect: str
    rate: float
    onset_minutes: int
    live_traces: int  # in the last hour
    live_per_second: float  # from then on
    # The root cause a right proposal names: each term a list of accepted spellings.
    expect: list[list[str]] = field(default_factory=list)
    traffic: dict = field(default_factory=dict)
    rollout: dict = field(default_factory=dict)


def load_scenarios(path: Path = SCENARIO_FILE) -> tuple[dict, dict, list[Scenario]]:
    """(base traffic, healthy noise, scenarios) from the scenario file."""
    data = yaml.safe_load(path.read_text())
    return data["traffic"], data["healthy"], [Scenario(**data["defaults"] | s) for s in data["scenarios"]]


TRAFFIC, HEALTHY, SCENARIOS = load_scenarios()
BY_NAME = {s.name: s for s in SCENARIOS}

# Per domain: (the question, its fact with a figure {n}); a wrong answer keeps the unit, not the figure.
FACTS = {
    "billing": ("How many days does a refund take for", "{n} days"),
    "shipping": ("How many business days does delivery take for", "{n} business days"),
    "healthcare": ("What is the maximum daily dosage in mg of", "{n} mg"),
    "travel": ("How many kg of luggage are allowed with", "{n} kg"),
    "general": ("How many characters must a password have for", "{n} characters"),
}
APP = "support-bot"
BATCH = 500
# The live traffic: sent every LIVE_EVERY seconds, evaluated every EVALUATE_EVERY (the stack's scheduler
# evaluates every minute; a loop of our own has none).
LIVE_EVERY = 2.0
EVALUATE_EVERY = 15.0
# A stated confidence at or above this number counts as above low.
CONFIDENT_AT = 0.5
POLL_SECONDS = 1.0
# Proposal types that abstain (nothing explains the failures). investigate_segment names a segment: judged.
ABSTAINING = {"investigate"}
SHOWN = ("fact_accuracy", "guardrail_pass_rate", "sla_compliance", "error_rate")  # the run figures logged


# --- traffic --------------------------------------------------------------------------------------


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _documents(rng: random.Random, mix: dict) -> list[str]:
    """Three retrieved document ids, like help-center/doc-12; the popular document only where `popular_doc`
    puts it, and never first."""
    docs = []
    for _ in range(3):
        source = _pick(rng, mix["source"])
        number = rng.randrange(1, DOCS_PER_SOURCE[source])
        if source == POPULAR_SOURCE and number >= POPULAR_NUMBER:
            number += 1  # skip the popular document's number
        docs.append(f"{source}/doc-{number}")
    if rng.random() < mix["popular_doc"]:
        docs[rng.choice([1, 2])] = f"{POPULAR_SOURCE}/doc-{POPULAR_NUMBER}"
    return docs


def profile(rng: random.Random, mix: dict, when: datetime, now: datetime) -> dict:
    """What one request is: the values a fault's `when` is matched against."""
    docs = _documents(rng, mix)
    old_prompt = when < now - timedelta(days=PROMPT_CHANGE_DAYS)
    return {
        "timestamp": when,
        "model": _pick(rng, mix["model"]),
        "domain": _pick(rng, mix["domain"]),
        "prompt_version": "v2" if old_prompt else _pick(rng, mix.get("prompt_version", {"v3": 1.0})),
        "locale": _pick(rng, mix["locale"]),
        "channel": _pick(rng, mix["channel"]),
        "customer_tier": _pick(rng, mix["customer_tier"]),
        "documents": docs,
        "long_input": rng.random() < mix["long_input"],
        "tools": [
            t.split(":", 1)[1] for t in ("tool:inventory_api", "tool:crm_lookup") if rng.random() < mix[t]
        ],
    }


def matches_fault(p: dict, when: dict) -> bool:
    for key, wanted in when.items():
        if key == "source":
            ok = any(d.split("/", 1)[0] == wanted for d in p["documents"])
        elif key == "document":
            ok = wanted in p["documents"]
        elif key == "tool":
            ok = wanted in p["tools"]
        else:
            ok = p[key] == wanted
        if not ok:
            return False
    return True


def render_trace(i: int, p: dict, effects: set[str], rng: random.Random) -> dict:
    """The trace the application sends for request `p`, with `effects` (what went wrong) applied."""
    question, fact = FACTS[p["domain"]]
    n = rng.randint(3, 60)
    stated = fact.format(n=n + rng.randint(5, 20) if "wrong_facts" in effects else n)
    words = sentence(rng, rng.randint(60, 300) if p["long_input"] else rng.randint(8, 60), p["domain"])
    output = (
        f"It is {stated} according to our documentation. {sentence(rng, rng.randint(10, 30), p['domain'])}."
    )
    if "pii" in effects:
        output += (
            f" Contact {rng.choice(['jane.doe', 'max.muster', 'li.wei'])}{rng.randint(1, 999)}@example.com."
        )
    start = p["timestamp"]
    latency = rng.uniform(4, 8) if "slow" in effects else round(rng.lognormvariate(-0.4, 0.35), 3)
    spans = [
        {"span_id": f"{i}-r", "name": "retrieve", "kind": "retrieval", "start_time": start.isoformat()},
        {"span_id": f"{i}-g", "name": "generate", "kind": "llm", "start_time": start.isoformat()},
    ]
    for tool in p["tools"]:
        failed = "error" in effects and tool == "inventory_api"
        spans.append(
            {"span_id": f"{i}-{tool}", "name": tool, "kind": "tool", "start_time": start.isoformat(),
             "status": "error" if failed else "ok"}
        )  # fmt: skip
    trace = {
        "id": f"t-{i}",
        "timestamp": start.isoformat(),
        "app": APP,
        "model": p["model"],
        "prompt_version": p["prompt_version"],
        "domain": p["domain"],
        "session_id": f"s-{i // 5}",
        "user_id": f"u-{rng.randrange(400)}",
        "input": f"{question} {words}?",
        "output": output,
        "retrieved_context": [
            {"source_id": d, "content": f"{fact.format(n=n)} ({d})."} for d in p["documents"]
        ],
        "reference": {"facts": [fact.format(n=n)]},
        "latency_seconds": latency,
        "input_tokens": rng.randint(40, 200) * (8 if p["long_input"] else 1),
        "output_tokens": rng.randint(20, 120),
        "cost_usd": round(rng.uniform(0.0001, 0.0005), 6),
        "tags": [f"locale:{p['locale']}", f"channel:{p['channel']}", *(["beta"] if i % 9 == 0 else [])],
        "metadata": {"customer_tier": p["customer_tier"], "region": rng.choice(["eu", "us"]), "top_k": 3},
        "spans": spans,
    }
    if "error" in effects:
        trace |= {
            "status": "error",
            "error_type": "ToolError",
            "error_message": "upstream failed",
            "output": "",
        }
    return trace


def request(scenario: Scenario, rng: random.Random, i: int, when: datetime, now: datetime) -> dict:
    """Trace number `i` of a scenario's app, sent at `when` (the fault on from its onset before `now`)."""
    mix = TRAFFIC | scenario.traffic
    faulty = scenario.when is not None and when >= now - timedelta(minutes=scenario.onset_minutes)
    p = profile(rng, mix | scenario.rollout if faulty else mix, when, now)
    effects = {e for e, chance in HEALTHY.items() if rng.random() < chance}
    if faulty and matches_fault(p, scenario.when) and rng.random() < scenario.rate:
        effects.add(scenario.effect)
    return render_trace(i, p, effects, rng)


def traffic(scenario: Scenario, now: datetime, seed: int) -> tuple[list[dict], list[dict]]:
    """(the week of history, the last hour) of one scenario's app, in time order."""
    rng = random.Random(f"{seed}-{scenario.name}")
    week_start, hour_start = now - timedelta(days=7), now - timedelta(hours=1)
    stamps = [week_start + (hour_start - week_start) * k / HISTORY_TRACES for k in range(HISTORY_TRACES)]
    stamps += [
        hour_start + (now - hour_start) * k / scenario.live_traces for k in range(scenario.live_traces)
    ]
    traces = [request(scenario, rng, i, when, now) for i, when in enumerate(stamps)]
    return traces[:HISTORY_TRACES], traces[HISTORY_TRACES:]


class Live:
    """A scenario's app after its last hour: `live_per_second` traces stamped as they are sent."""

    def __init__(self, scenario: Scenario, now: datetime, seed: int):
        self.scenario, self.now = scenario, now
        self.rng = random.Random(f"{seed}-{scenario.name}-live")
        self.started = time.monotonic()
        self.sent = 0

    def due(self) -> list[dict]:
        """The traces the app has served since the last call."""
        total = int((time.monotonic() - self.started) * self.scenario.live_per_second)
        stamp = datetime.now(UTC)
        first = HISTORY_TRACES + self.scenario.live_traces + self.sent
        new = [request(self.scenario, self.rng, first + k, stamp, self.now) for k in range(total - self.sent)]
        self.sent = total
        return new


# --- judging a proposal ---------------------------------------------------------------------------

# Names a dimension may go by in a root cause, folded into the names the scenarios expect.
DIMENSION_ALIASES = {
    "tags": "tag",
    "retrieval_sources": "retrieval_source",
    "source": "retrieval_source",
    "source_id": "retrieval_source",
    "document": "retrieval_source",
    "span": "span_name",
    "spans": "span_name",
    "span_names": "span_name",
    "tool": "span_name",
    "tools": "span_name",
    "tool_name": "span_name",
    "input_size": "input_length",
    "input_bytes": "input_length",
    "input_chars": "input_length",
}
# How a combined root cause joins its halves (model+domain = gpt-4o-mini+travel); never inside an id.
JOINERS = re.compile(r"\s*(?:\+|&| AND | and | x |\|)\s*")
# Keys under which a root cause may list the parts of a combination.
PART_KEYS = ("segment", "segments", "combination", "conditions", "parts", "halves", "values", "pair")


def _terms(dimension: str, value: str) -> set[str]:
    d = dimension.strip().lower()
    d = DIMENSION_ALIASES.get(d, d)
    terms = {f"{d}={value}"}
    for prefix, canonical in (
        ("tag", "tag"),
        ("tags", "tag"),
        ("metadata", "metadata"),
        ("meta", "metadata"),
    ):
        for sep in (":", ".", "/"):
            if d.startswith(prefix + sep):  # tag:locale=de-DE -> tag=locale:de-DE
                key = d[len(prefix) + 1 :]
                terms |= {f"{key}={value}"} | (
                    {f"tag={key}:{value}"} if canonical == "tag" else {f"metadata.{key}={value}"}
                )
    if d == "tag" and ":" in value:
        terms.add("{}={}".format(*value.split(":", 1)))
    if d == "metadata" and "=" in value:
        terms |= {f"metadata.{value}", value}
    return terms


def cause_terms(cause: dict) -> set[str]:
    """The `dimension=value` terms a proposal's root cause names: its own, each half of a combined one,
    and those of the parts it lists."""
    terms: set[str] = set()
    dimension, value = cause.get("dimension"), cause.get("value")
    if isinstance(dimension, str) and isinstance(value, str):
        terms |= _terms(dimension, value)
        dims, values = JOINERS.split(dimension), JOINERS.split(value)
        if len(dims) > 1 and len(dims) == len(values):
            for d, v in zip(dims, values, strict=True):
                terms |= _terms(d, v)
    for key in PART_KEYS:
        parts = cause.get(key)
        if isinstance(parts, dict) and parts and all(isinstance(v, str) for v in parts.values()):
            for d, v in parts.items():
                terms |= _terms(d, v)
        elif isinstance(parts, list):
            for part in parts:
                if isinstance(part, dict):
                    terms |= cause_terms(part)
    return terms


def _lower_edge(bucket: str) -> float:
    """The smallest size in a size bucket's name ('1k-4k' -> 1000, '>4k' -> 4000, '<200' -> 0)."""
    if bucket.lstrip().startswith("<"):
        return 0.0
    found = re.search(r"(\d+(?:\.\d+)?)\s*([kKmM]?)", bucket)
    if not found:
        return 0.0
    return float(found.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[found.group(2).lower()]


# A bounded size range: '460-1300', '1k-4k', '1 to 4 KB'.
SIZE_RANGE = re.compile(r"\d\s*[kKmM]?[bB]?\s*(?:-|–|to)\s*\d")


def names(expected: str, terms: set[str]) -> bool:
    """Whether `terms` contain the expected term; `dimension>=N` wants every size from N bytes or more up
    (`>=460`, `>4k`): a bounded range leaves the longer inputs, which fail as well, out of the cause."""
    if ">=" in expected:
        dimension, low = expected.split(">=")
        return any(
            t.startswith(dimension + "=")
            and _lower_edge(bucket := t.split("=", 1)[1]) >= float(low)
            and not SIZE_RANGE.search(bucket)
            for t in terms
        )
    return expected in terms


def is_hit(proposal: dict, scenario: Scenario) -> bool:
    if not scenario.expect or proposal.get("proposal_type") in ABSTAINING:
        return False
    terms = cause_terms(proposal.get("root_cause") or {})
    return all(any(names(spelling, terms) for spelling in term) for term in scenario.expect)


def confidence(proposal: dict) -> tuple[str, bool]:
    """(what the proposal states, whether it is confident): see the module's docstring."""
    cause = proposal.get("root_cause") or {}
    stated = proposal.get("confidence", cause.get("confidence"))
    if isinstance(stated, dict):
        stated = stated.get("level", stated.get("value", stated.get("score")))
    provisional = bool(proposal.get("provisional") or cause.get("provisional"))
    if proposal.get("proposal_type") in ABSTAINING:
        return ("-" if stated is None else str(stated)), False
    if stated is None:
        return "-", not provisional
    if isinstance(stated, int | float):
        return f"{stated:.2f}", stated >= CONFIDENT_AT and not provisional
    return str(stated), str(stated).lower() not in ("low", "none", "provisional") and not provisional


def describe(cause: dict | None) -> str:
    if not cause:
        return "-"
    return f"{cause.get('dimension')}={cause.get('value')}"


# --- the loop -------------------------------------------------------------------------------------


@dataclass
class Loop:
    api: str  # .../api/v1
    env: dict  # for `metamon keys create`: the database the API serves
    note: str
    prometheus: str  # only to say why alerts are late
    # project -> its new API key; None: `metamon keys create` (a test may make keys in process)
    make_key: Callable[[str], str] | None = None


@contextmanager
def stack_loop(settings: Settings) -> Iterator[Loop]:
    """The running stack; a fast-profile Prometheus and Alertmanager of our own if it runs the standard."""
    api = f"http://{settings.api.host}:{settings.api.port}"
    if settings.stack.alerting_profile == "fast":
        note = "the stack's API, exporter, worker, Prometheus, Alertmanager (fast)"
        yield Loop(f"{api}/api/v1", {}, note, settings.alerting.prometheus_url)
        return
    with tempfile.TemporaryDirectory(prefix="bench-efficacy-") as tmp:
        directory = Path(tmp)
        render(settings, directory / "alertmanager", fast=True)
        with alertmanager(directory / "alertmanager") as am:
            config = fast_loop_config(am, f"127.0.0.1:{settings.exporter.port}", api)
            with prometheus(config, directory) as prometheus_url:
                note = (
                    "the stack's API, exporter and worker; the stack runs the standard alerting profile, so "
                    "a fast-profile Prometheus and Alertmanager of the benchmark's own"
                )
                yield Loop(f"{api}/api/v1", {}, note, prometheus_url)


@contextmanager
def own_loop(settings: Settings, database_url: str) -> Iterator[Loop]:
    """API, exporter, worker, Prometheus and Alertmanager (fast profile) of our own on `database_url`."""
    with tempfile.TemporaryDirectory(prefix="bench-efficacy-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        api = stack.enter_context(api_server(database_url, directory, workers=1))
        target = stack.enter_context(exporter(database_url, directory))
        stack.enter_context(worker(database_url, directory))
        own = settings.model_copy(update={"api_port": int(api.rsplit(":", 1)[1])})
        render(own, directory / "alertmanager", fast=True)
        am = stack.enter_context(alertmanager(directory / "alertmanager"))
        prometheus_url = stack.enter_context(prometheus(fast_loop_config(am, target, api), directory))
        env = {"METAMON_DATABASE_URL": database_url}
        yield Loop(f"{api}/api/v1", env, f"own processes on {database_url}", prometheus_url)


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: Scenario
    project: str
    sent_at: float | None = None  # when the last hour's traces were in
    evaluated_at: float | None = None
    alert: str | None = None
    alert_s: float | None = None
    proposal_s: float | None = None
    proposals: list[dict] = field(default_factory=list)
    error: str | None = None
    live: Live | None = None

    def settled(self) -> bool:
        """Whether the top proposal is final enough to stop waiting: a hit, or a typed change that is not
        provisional (an abstention or a provisional proposal may still be revised as traces arrive)."""
        top = self.top()
        if top is None:
            return False
        provisional = bool(top.get("provisional") or (top.get("root_cause") or {}).get("provisional"))
        return is_hit(top, self.scenario) or (top.get("proposal_type") not in ABSTAINING and not provisional)

    def top(self) -> dict | None:
        """The first proposal about the scenario's metric, else the first one."""
        ordered = sorted(self.proposals, key=lambda p: p["created_at"])
        on_metric = [p for p in ordered if (p.get("root_cause") or {}).get("metric") == self.scenario.metric]
        return (on_metric or ordered or [None])[0]

    def row(self) -> dict:
        top, s = self.top(), self.scenario
        wrong = [p for p in self.proposals if confidence(p)[1] and not is_hit(p, s)]
        return {
            "scenario": s.name,
            "kind": s.kind,
            "fault": s.fault,
            "expected": [t[0] for t in s.expect],
            "alert": self.alert,
            "alert_seconds": _round(self.alert_s),
            "proposal_seconds": _round(self.proposal_s),
            "proposals": len(self.proposals),
            "revision": top and top.get("revision"),
            "live_traces_after": self.live.sent if self.live else 0,
            "top_root_cause": describe(top and top.get("root_cause")),
            "top_proposal_type": top and top.get("proposal_type"),
            "hit": (self.alert is None and not self.proposals)
            if s.when is None
            else bool(top and is_hit(top, s)),
            "confidence": confidence(top)[0] if top else "-",
            "wrong_confident": len(wrong),
            "error": self.error,
        }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def create_key(project: str, env: dict) -> str:
    args = ["keys", "create", "--project", project, "--scopes", "ingest,read,admin", "--name", "efficacy"]
    out = subprocess.run(
        [METAMON, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def send(http: httpx.Client, traces: list[dict]) -> None:
    for start in range(0, len(traces), BATCH):
        http.post("/traces", json={"traces": traces[start : start + BATCH]}).raise_for_status()


def poll(result: Result, http: httpx.Client) -> None:
    """Read the project's alerts and proposals once; log what is new."""
    now, seen = time.monotonic(), (result.alert, result.proposal_s)
    if result.alert is None:
        items = http.get("/alerts", params={"limit": 50}).json()["items"]
        mine = [a for a in items if (a.get("labels") or {}).get("project") == result.project]
        if mine:
            result.alert = min(mine, key=lambda a: a["starts_at"])["alertname"]
            result.alert_s = now - result.sent_at
    listed = http.get("/proposals", params={"limit": 50}).json()["items"]
    if listed and result.proposal_s is None:
        result.proposal_s = now - result.sent_at
    result.proposals = [http.get(f"/proposals/{p['id']}").json() for p in listed]
    name = result.scenario.name
    if result.alert != seen[0]:
        console.log(f"{name:>15}: {result.alert} stored after {result.alert_s:.1f} s")
    if result.proposal_s != seen[1]:
        console.log(
            f"{name:>15}: proposal after {result.proposal_s:.1f} s: {describe(result.top()['root_cause'])}"
        )


def watch(results: list[Result], keys: dict[str, str], api: str, stop: threading.Event) -> None:
    """In a thread of its own, from the moment each scenario's last hour is sent: poll every second."""
    clients = {project: _client(api, key) for project, key in keys.items()}
    while not stop.is_set():
        for r in results:
            if r.sent_at is not None:
                try:
                    poll(r, clients[r.project])
                except httpx.HTTPError as exc:
                    r.error = f"{type(exc).__name__}: {exc}"
        stop.wait(POLL_SECONDS)
    for http in clients.values():
        http.close()


def feed(results: list[Result], keys: dict[str, str], api: str, stop: threading.Event) -> None:
    """In a thread of its own: keep every app's traffic arriving, and evaluate it every EVALUATE_EVERY."""
    clients = {project: _client(api, key) for project, key in keys.items()}
    evaluated = time.monotonic()
    while not stop.wait(LIVE_EVERY):
        evaluate = time.monotonic() - evaluated >= EVALUATE_EVERY
        for r in results:
            if r.live is None:
                continue
            try:
                send(clients[r.project], r.live.due())
                if evaluate:
                    clients[r.project].post("/control/evaluate", json={"max_traces": 100_000})
            except httpx.HTTPError as exc:
                r.error = f"{type(exc).__name__}: {exc}"
        if evaluate:
            evaluated = time.monotonic()
    for http in clients.values():
        http.close()


def _client(api: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def run(loop: Loop, scenarios: list[Scenario], timeout: float, quiet: float, seed: int = 1) -> list[Result]:
    """Every phase for all scenarios at once, so the alerts of all of them are awaited together."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    results = [Result(s, f"efficacy-{stamp}-{s.name}") for s in scenarios]
    console.log(f"[bold]loop[/]: {loop.note}")
    with console.status(f"creating {len(results)} projects and their keys"), ThreadPoolExecutor(4) as pool:
        projects = [r.project for r in results]
        keys = dict(
            zip(
                projects,
                pool.map(loop.make_key or (lambda p: create_key(p, loop.env)), projects),
                strict=True,
            )
        )
    console.log(f"{len(results)} projects with their keys: efficacy-{stamp}-*")
    clients = {project: _client(loop.api, key) for project, key in keys.items()}

    now = datetime.now(UTC)
    hours = {}
    for r in results:
        history, hours[r.project] = traffic(r.scenario, now, seed)
        with console.status(f"{r.scenario.name}: sending a week of history ({len(history):,} traces)"):
            send(clients[r.project], history)
    console.log(f"history sent: {HISTORY_TRACES:,} traces per scenario over 7 days")
    # The last hour ends now: its newest traces are seconds old when they arrive.
    now = datetime.now(UTC)
    hours = {r.project: traffic(r.scenario, now, seed)[1] for r in results}

    stop = threading.Event()
    threads = [
        threading.Thread(target=target, args=(results, keys, loop.api, stop), daemon=True)
        for target in (watch, feed)
    ]
    for thread in threads:
        thread.start()
    try:
        for r in results:
            http = clients[r.project]
            with console.status(f"{r.scenario.name}: sending the last hour and evaluating"):
                send(http, hours[r.project])
                r.sent_at = time.monotonic()
                body = http.post("/control/evaluate", json={"max_traces": 100_000}).json()
            r.evaluated_at = time.monotonic()
            r.live = Live(r.scenario, now, seed)
            run_ = next((x for x in body["runs"] if x["app"] == APP and x["model"] is None), {})
            figures = ", ".join(
                f"{k} {v:.3f}" for k, v in run_.get("metrics", {}).items() if k in SHOWN and v is not None
            )
            console.log(
                f"{r.scenario.name:>15}: last hour sent ({len(hours[r.project])}) and scored: {figures}"
            )

        deadline = time.monotonic() + timeout
        with console.status("waiting for alerts and proposals") as status:
            while (now_m := time.monotonic()) < deadline:
                waiting = [r.scenario.name for r in results if r.scenario.when and not r.settled()]
                # The null scenario is watched at least as long as the slowest alert of this run took.
                watched = max([quiet, *(r.alert_s for r in results if r.alert_s is not None)])
                quiet_left = max(watched - (now_m - r.evaluated_at) for r in results)
                status.update(f"{deadline - now_m:.0f} s left at most; not settled yet: {', '.join(waiting)}")
                if not waiting and quiet_left <= 0:
                    break
                time.sleep(POLL_SECONDS)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for http in clients.values():
            http.close()
    late = [r for r in results if r.scenario.when is not None and r.alert is None]
    if late:
        console.log(
            f"[yellow]no alert within {timeout:.0f} s of the last evaluation for: "
            f"{', '.join(r.scenario.name for r in late)}. {why_late(loop.prometheus, late)}[/]"
        )
    return results


def why_late(prometheus_url: str, late: list[Result]) -> str:
    """What Prometheus says about the missing alerts: scrapes of the exporter that failed reset the
    alerts' `for` (a busy machine: the fast profile's scrape timeout is 1 s), or alerts still pending."""

    def value(promql: str) -> list[dict]:
        response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=10)
        return response.json()["data"]["result"]

    try:
        up = value('avg_over_time(up{job="metamon-exporter"}[5m])')
        slowest = value('max_over_time(scrape_duration_seconds{job="metamon-exporter"}[5m])')
        projects = "|".join(r.project for r in late)  # letters, digits and dashes: nothing to escape
        pending = value(f'count(ALERTS{{alertstate="pending", project=~"{projects}"}})')
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        return f"Prometheus could not say why ({exc})."
    said = []
    if up and slowest:
        said.append(
            f"Prometheus got {float(up[0]['value'][1]):.0%} of its exporter scrapes over the last 5 minutes "
            f"(slowest {float(slowest[0]['value'][1]):.1f} s): a failed scrape resets a pending alert."
        )
    if pending:
        said.append(f"{pending[0]['value'][1]} alerts of these projects are pending, not firing.")
    return " ".join(said)


def table(rows: list[dict]) -> Table:
    t = Table("scenario", "kind", "first alert", "alert s", "proposal s", "top root cause", "revision", "hit",
              "confidence", "wrong confident", title="fault injection: alert -> proposal")  # fmt: skip
    for row in rows:
        t.add_row(
            row["scenario"],
            row["kind"],
            row["alert"] or "-",
            "-" if row["alert_seconds"] is None else f"{row['alert_seconds']:.1f}",
            "-" if row["proposal_seconds"] is None else f"{row['proposal_seconds']:.1f}",
            row["top_root_cause"] + (f" ({row['top_proposal_type']})" if row["top_proposal_type"] else ""),
            str(row["revision"] or "-"),
            _verdict(row),
            row["confidence"],
            str(row["wrong_confident"]),
        )
    return t


def _verdict(row: dict) -> str:
    if row["scenario"] == "null":
        return "clean" if row["hit"] else "[red]not clean[/]"
    return "hit" if row["hit"] else "[red]miss[/]"


def summary(rows: list[dict]) -> dict:
    faults = [r for r in rows if r["scenario"] != "null"]
    null = [r for r in rows if r["scenario"] == "null"]
    return {
        "hits": sum(r["hit"] for r in faults),
        "fault_scenarios": len(faults),
        "null_clean": all(r["hit"] for r in null) if null else None,
        "wrong_confident": sum(r["wrong_confident"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenarios", help="comma-separated names (default: all); see --list")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--timeout", type=float, default=180, help="seconds to wait for alerts and proposals")
    parser.add_argument(
        "--quiet", type=float, default=45, help="seconds the null scenario must stay quiet (at least)"
    )
    parser.add_argument("--scratch", action="store_true", help="own processes on a scratch database")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:15} {s.kind:20} {s.fault}")
        return
    names_ = args.scenarios.split(",") if args.scenarios else list(BY_NAME)
    if unknown := [n for n in names_ if n not in BY_NAME]:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    scenarios = [BY_NAME[n] for n in names_]
    settings = get_settings()
    started = time.monotonic()
    console.print(
        f"metamon efficacy benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {len(scenarios)} scenarios"
    )
    with ExitStack() as stack:
        if args.scratch:
            (url,) = stack.enter_context(scratch_databases("metamon_bench_efficacy"))
            loop = stack.enter_context(own_loop(settings, url))
        else:
            loop = stack.enter_context(stack_loop(settings))
        results = run(loop, scenarios, args.timeout, args.quiet, args.seed)
    rows = [r.row() for r in results]
    totals = summary(rows) | {"seconds": round(time.monotonic() - started, 1)}
    if args.json:
        print(json.dumps({"rows": rows, "summary": totals}, indent=2))
        return
    out = Console(width=200)
    out.print(table(rows))
    out.print(
        f"top root cause right in {totals['hits']} of {totals['fault_scenarios']} fault scenarios; "
        f"null scenario clean: {totals['null_clean']}; wrong confident proposals: "
        f"{totals['wrong_confident']}; {totals['seconds']:.0f} s in all"
    )


if __name__ == "__main__":
    main()
