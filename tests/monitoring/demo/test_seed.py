"""`metamon seed` on the real stack, with its default week: every count the user's Task 1 asks for, as
the API lists them."""

import random
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from metamon.monitoring.api.deps import current_settings
from metamon.monitoring.api.main import create_app
from metamon.monitoring.db.models import (
    AuditLog,
    EvaluationRun,
    GoldenCase,
    ImprovementProposal,
    Project,
    Trace,
    ValidationResult,
)
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.demo.seed import APPS, BUSY_HOUR_TRACES, TRACES_PER_DAY, plan, seed
from metamon.monitoring.keys import create_key

PROJECT = "seed-week"


def test_the_seeded_week_shows_in_every_list(settings):
    with session_scope(settings.database.url) as session:
        _, key = create_key(session, PROJECT, ["ingest", "read", "review", "admin"])
        project_id = session.scalar(select(Project.id).where(Project.slug == PROJECT))
    app = create_app()
    app.dependency_overrides[current_settings] = lambda: settings
    steps = []
    with TestClient(
        app, base_url="http://testserver/api/v1", headers={"Authorization": f"Bearer {key}"}
    ) as http:
        report = seed(
            settings,
            session_factory(settings.database.url),
            http,
            project=PROJECT,
            project_id=project_id,
            webhook_token=settings.webhook_token(),
            step=lambda what, n: steps.append(what),
        )
        alerts = http.get("/alerts", params={"limit": 100}).json()["items"]
        proposals = http.get("/proposals", params={"limit": 100}).json()["items"]
        stats = http.get("/expert-review/stats").json()

    assert {"traces", "evaluation", "alerts", "research", "labels"} <= set(steps)

    with session_scope(settings.database.url) as session:
        runs = session.scalars(
            select(EvaluationRun)
            .where(EvaluationRun.project_id == project_id, EvaluationRun.model.is_(None))
            .order_by(EvaluationRun.window_end)
        ).all()
        validations = session.scalar(
            select(func.count())
            .select_from(ValidationResult)
            .join(ImprovementProposal)
            .where(ImprovementProposal.project_id == project_id)
        )
        stored_traces = session.scalar(select(func.count()).where(Trace.project_id == project_id))
        golden = session.scalar(select(func.count()).where(GoldenCase.project_id == project_id))
        audited = set(session.scalars(select(AuditLog.action).where(AuditLog.project_id == project_id)).all())
    assert report.traces == stored_traces == 7 * TRACES_PER_DAY >= 10_000

    # 10-15 evaluation runs over the week (each writes every app's window), in the ranges Task 1 names.
    passes = sorted({r.window_end for r in runs})
    assert 10 <= len(passes) <= 15
    assert passes[-1] - passes[0] >= timedelta(days=6)
    for app in APPS:
        mine = [r for r in runs if r.app == app and r.domain is None]
        assert len(mine) == len(passes)
        assert all(0.85 <= r.fact_accuracy <= 0.98 for r in mine), [r.fact_accuracy for r in mine]
        assert all(0.90 <= r.guardrail_pass_rate <= 0.99 for r in mine), [r.guardrail_pass_rate for r in mine]

    # 5-8 alerts of mixed severity, through the webhook, some still open, some resolved. Alerts about
    # metamon itself (no project label), which other tests' stacks may have raised, are listed too.
    assert all(a["labels"].get("project") in (PROJECT, None) for a in alerts)
    alerts = [a for a in alerts if a["labels"].get("project") == PROJECT]
    assert 5 <= len(alerts) <= 8
    assert {"critical", "high", "medium"} <= {a["severity"] for a in alerts}
    assert {"firing", "acknowledged", "resolved"} <= {a["status"] for a in alerts}
    assert all(a["notified_receivers"] == ["metamon-webhook"] for a in alerts)

    # 3-5 proposals from the research agent, in different states through the workflow's transitions.
    assert 3 <= len(proposals) <= 5
    assert {p["status"] for p in proposals} == {
        "pending",
        "approved",
        "rejected",
        "implemented",
        "rolled_back",
    }
    assert all(p["status"] == report.proposals[p["id"]] for p in proposals)
    assert {
        "proposal.validating",
        "proposal.validated",
        "proposal.approved",
        "proposal.implemented",
    } <= audited
    assert 2 <= report.validations == validations <= 3

    # Labels by two reviewers, golden cases promoted from where they agree.
    assert stats["by_reviewer"].keys() == {"alice", "bob"}, stats
    assert golden == report.golden_cases >= 1


def test_the_same_seed_gives_the_same_traffic():
    now = datetime(2026, 11, 21, tzinfo=UTC)
    first, again = (plan(now, 1, random.Random("p/1/0")) for _ in range(2))
    other = plan(now, 1, random.Random("p/1/1"))
    assert first == again
    assert first != other
    assert len(first) == TRACES_PER_DAY
    busy_hour = first[-BUSY_HOUR_TRACES:]
    assert {(t["app"], t["prompt_version"]) for t in busy_hour} == {
        (a, v) for a in APPS for v in ("v2", "v3")
    }
    assert {t["prompt_version"] for t in first[:-BUSY_HOUR_TRACES]} == {"v2"}
