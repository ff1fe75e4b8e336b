"""`metamon demo`: the main job, live against the stack `metamon stack up` started (fast profile).

A sample RAG app answers the golden questions for a week with prompt v2, then ships prompt v3, which
garbles numbers and dates. metamon ingests the traces, scores them, the exporter publishes the drop,
Prometheus fires, Alertmanager calls the webhook, the research agent finds prompt v3 and proposes the
rollback, the validation agent replays the golden dataset, a person approves, the rollout goes
10% -> 50% -> 100%, and the impact is measured."""

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import typer
from rich.console import Console
from rich.table import Table

from metamon.agents.validation.golden import shipped_cases
from metamon.monitoring.db import migrate
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.demo.sample_app import answer
from metamon.monitoring.keys import create_key
from metamon.monitoring.settings import get_settings

console = Console()
APP = "support-bot"
BATCH = 500


def trace(case, version: str, config: dict, when: datetime, config_version: int | None = None) -> dict:
    """One request of the sample RAG app as the trace it sends to metamon."""
    reply = answer(case.input, case.retrieved_context, config)
    return {
        "id": f"demo-{uuid.uuid4()}",
        "timestamp": when.isoformat(),
        "app": APP,
        "model": "gpt-4o-mini",
        "prompt_version": version,
        "domain": case.tags[0] if case.tags else None,
        "input": case.input,
        "output": reply["output"],
        "retrieved_context": case.retrieved_context[: config.get("top_k", 4)],
        "reference": case.reference,
        "latency_seconds": reply["latency_seconds"],
        "input_tokens": reply["input_tokens"],
        "output_tokens": reply["output_tokens"],
        "metadata": {"top_k": config.get("top_k", 4), "config_version": config_version},
    }


def history(now: datetime, rng: random.Random) -> list[dict]:
    """A week of v2 (one request in ten reads too few passages), then the last 20 minutes half on v3."""
    cases = shipped_cases()
    plan = [
        (now - timedelta(days=7) + timedelta(days=7) * i / 1400 - timedelta(hours=1), "v2")
        for i in range(1400)
    ]
    plan += [
        (now - timedelta(minutes=20) + timedelta(minutes=19) * i / 300, "v3" if i % 2 else "v2")
        for i in range(300)
    ]
    return [
        trace(
            rng.choice(cases),
            version,
            {"prompt_version": version, "top_k": 1 if rng.random() < 0.1 else 4},
            when,
        )
        for when, version in plan
    ]


def live_traffic(http: httpx.Client, rng: random.Random, requests: int = 300) -> None:
    """The app as a rollout sees it: each request reads GET /configs/{app} and is served by the candidate
    with the rollout's probability, its trace tagged with the config version that served it."""
    served = http.get(f"/configs/{APP}").json()
    active, candidate = served["active"], served["candidate"]
    traces = []
    for _ in range(requests):
        chosen = candidate if candidate and rng.random() * 100 < candidate["rollout_percent"] else active
        config = chosen["config"]
        traces.append(
            trace(
                rng.choice(shipped_cases()),
                config.get("prompt_version", "v2"),
                config,
                datetime.now(UTC),
                chosen["version"],
            )
        )
    http.post("/traces", json={"traces": traces}).raise_for_status()
    http.post("/control/evaluate", json={}).raise_for_status()


def wait(what: str, check, timeout: float = 120.0):
    start = time.monotonic()
    with console.status(f"waiting for {what}..."):
        while time.monotonic() - start < timeout:
            result = check()
            if result:
                console.print(f"{what}: after {time.monotonic() - start:.1f} s")
                return result
            time.sleep(1)
    console.print(f"[red]{what}: nothing after {timeout:.0f} s[/red]")
    raise typer.Exit(1)


def run() -> None:
    settings = get_settings()
    api = f"{settings.api.public_base_url}/api/v1"

    console.rule("1. database and health")
    migrate.upgrade(settings.database.url)
    # A project per run: each run's alert is new to Prometheus, Alertmanager and metamon.
    project = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    with session_scope() as session:
        _, key = create_key(session, project, ["ingest", "read", "review", "admin"], name="metamon demo")
    http = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=120)
    health = http.get("/health", timeout=10).json()  # the details need a key
    table = Table("dependency", "status", "latency", "detail")
    for name, dep in health["dependencies"].items():
        table.add_row(name, dep["status"], f"{dep['latency_ms']} ms", dep["detail"])
    console.print(table)
    if health["status"] != "ok":
        console.print(f"[red]overall: {health['status']}[/red]")
        raise typer.Exit(1)
    if settings.stack.alerting_profile != "fast":
        console.print(
            "[yellow]the stack runs the standard alerting profile: alerts take minutes, not seconds "
            "(`make demo` starts it with METAMON_ALERTING_PROFILE=fast)[/yellow]"
        )

    console.rule(f"2. an API key for project '{project}'")

    console.rule("3. a week of traffic, then prompt v3 ships")
    release = {"config": {"prompt_version": "v3", "top_k": 4}, "by": "release-pipeline"}
    active = http.put(f"/configs/{APP}", json=release)
    active.raise_for_status()
    console.print(
        f"the app's release pipeline published config v{active.json()['active']['version']}: "
        f"{release['config']}"
    )
    rng = random.Random(7)
    traces = history(datetime.now(UTC), rng)
    for start in range(0, len(traces), BATCH):
        http.post("/traces", json={"traces": traces[start : start + BATCH]}).raise_for_status()
    console.print(f"ingested {len(traces)} traces of {APP} through POST /api/v1/traces")

    console.rule("4. evaluation")
    # The standard window (METAMON_EVALUATION_WINDOW_SECONDS): the runs the exporter publishes.
    body = http.post("/control/evaluate", json={"max_traces": 100_000}).json()
    app_run = next(r for r in body["runs"] if r["app"] == APP and r["model"] is None)
    console.print(
        f"scored {body['scored']} traces; last hour of {APP}: "
        + ", ".join(f"{k} {v:.3f}" for k, v in app_run["metrics"].items() if v is not None)
    )

    console.rule("5. Prometheus fires, Alertmanager calls the webhook, the research agent proposes")
    prometheus = f"{settings.alerting.prometheus_url}/api/v1/alerts"

    def firing():
        alerts = httpx.get(prometheus, timeout=5).json()["data"]["alerts"]
        return [a for a in alerts if a["labels"].get("project") == project and a["state"] == "firing"]

    for alert in wait("Prometheus alert firing", firing):
        console.print(
            f"  {alert['labels']['alertname']} {alert['labels'].get('severity')}: "
            f"{alert['annotations'].get('summary')}"
        )
    stored = wait(
        "the alert stored by metamon's webhook",
        lambda: http.get("/alerts", params={"status": "firing"}).json()["items"],
    )
    console.print(
        f"  {stored[0]['alertname']} ({stored[0]['severity']}) from {stored[0]['notified_receivers']}"
    )
    proposals = wait(
        "a proposal from the research agent",
        lambda: http.get("/proposals", params={"status": "pending"}).json()["items"],
    )
    proposal = http.get(f"/proposals/{proposals[0]['id']}").json()
    cause = proposal["root_cause"]
    console.print(f"  {proposal['title']}")
    console.print(
        f"  root cause {cause['dimension']}={cause['value']}: lift {cause['lift']:.1f}, "
        f"{cause['share_of_failures']:.0%} of failures, p={cause['p_value']:.1e}"
    )

    console.rule("6. validation on the golden dataset")
    # The request queues the replay (202); `metamon worker` runs it.
    http.post("/control/validate-proposal", json={"proposal_id": proposal["id"]}).raise_for_status()
    validated = wait(
        "the worker's validation",
        lambda: (p := http.get(f"/proposals/{proposal['id']}").json())["status"] != "validating" and p,
    )
    v = validated["validation"]
    console.print(
        f"  {v['case_count']} cases: pass rate {v['baseline']['pass_rate']:.1%} -> "
        f"{v['candidate']['pass_rate']:.1%}, McNemar p={v['mcnemar_p_value']:.1e}, mean score delta "
        f"{v['score_delta']['mean']:+.3f} (95% CI {v['score_delta']['ci95'][0]:+.3f} to "
        f"{v['score_delta']['ci95'][1]:+.3f}) -> {validated['status']}"
    )

    console.rule("7. approval and rollout")
    approved = http.post(
        f"/proposals/{proposal['id']}/approve",
        json={"reviewer": "ml-lead", "comment": "v3 garbles numbers; back to v2"},
    )
    console.print(f"  approved by ml-lead: {approved.json()['status']}")
    while (
        step := http.post(f"/proposals/{proposal['id']}/rollout", json={"by": "ml-lead"})
    ).status_code == 200:
        config = http.get(f"/configs/{APP}").json()
        candidate = config["candidate"]
        console.print(
            f"  {step.json()['status']} {step.json()['rollout_percent']}%: active "
            f"v{config['active']['version']} {config['active']['config']}"
            + (f", candidate v{candidate['version']} at {candidate['rollout_percent']}%" if candidate else "")
        )
        if step.json()["status"] == "implemented":
            break
        # The stage serves live traffic before the next one. The monitor agent (every 5 minutes) moves it
        # by itself, or rolls it back on a >5% degradation; here the reviewer moves it once it has data.
        live_traffic(http, rng)
    impact = http.get(f"/proposals/{proposal['id']}").json()["impact"]
    for row in impact:
        console.print(
            f"  impact at {row['rollout_percent']}%: {row['metric']} {row['before']:.3f} -> "
            f"{row['after']:.3f}, p={row['p_value']:.1e}, significant {row['significant']}, "
            f"ROI ${row['roi_usd']:,.0f} per 30 days"
            if row["after"] is not None
            else f"  impact at {row['rollout_percent']}%: not measurable ({row['details']})"
        )

    console.rule("done")
    console.print(
        f"Prometheus: {settings.alerting.prometheus_url}/alerts, "
        f"Alertmanager: {settings.alerting.alertmanager_url}, API: {api}/proposals/{proposal['id']}"
    )
    console.print(key)
