"""The evaluation agent against the real database: scoring is batched, idempotent and parallel-safe;
runs summarise a window per scope with deltas against the previous run and the baseline."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from metamon.agents.evaluation.agent import evaluate
from metamon.agents.evaluation.registry import build_evaluators
from metamon.agents.evaluation.scoring import score_pending
from metamon.monitoring.db.models import (
    EvaluationCounter,
    EvaluationRun,
    Project,
    ReviewLabel,
    Trace,
    TraceEvaluation,
)
from metamon.monitoring.db.session import session_factory, session_scope

NOW = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)


def trace(i: int, output: str = "Refunds take 30 days.", **kw) -> dict:
    return {
        "id": f"e-{i}",
        "timestamp": "2026-11-20T10:00:00Z",
        "app": "support-bot",
        "model": "gpt-4o",
        "domain": "billing",
        "input": "How long do refunds take?",
        "output": output,
        "reference": {"facts": ["30 days"]},
        "latency_seconds": 1.0,
        "cost_usd": 0.002,
        **kw,
    }


def project_id(database_url: str, slug: str):
    with session_scope(database_url) as session:
        return session.scalar(select(Project.id).where(Project.slug == slug))


def ingest(client, headers, traces: list[dict]) -> None:
    response = client.post("/api/v1/traces", json={"traces": traces}, headers=headers)
    assert response.status_code == 200, response.text


@pytest.fixture
def sessions(settings):
    return session_factory(settings.database.url)


def test_scores_once_and_writes_runs_per_scope(client, make_key, settings, sessions):
    headers = make_key("eval-1")
    ingest(
        client,
        headers,
        [
            trace(1),
            trace(2, output="Refunds take 10 days."),  # contradicts the reference: fact accuracy 0
            trace(3, output="Mail bob@example.com: refunds take 30 days."),  # PII: guardrails fail
            trace(4, latency_seconds=3.0, model="gpt-4o-mini"),  # over the 2 s SLA
            trace(5, status="error", error_type="Timeout", model="gpt-4o-mini", domain="shipping"),
        ],
    )
    pid = project_id(settings.database.url, "eval-1")
    report = evaluate(settings, sessions, project_id=pid, now=NOW, trigger="manual")
    assert report.scored == 5

    with session_scope(settings.database.url) as session:
        assert (
            session.scalar(select(func.count()).where(Trace.project_id == pid, Trace.evaluated_at.is_(None)))
            == 0
        )
        names = set(
            session.scalars(select(TraceEvaluation.evaluator).where(TraceEvaluation.project_id == pid))
        )
        assert names == {"fact_accuracy", "guardrails", "sla", "cost"}
        counters = {
            c.evaluator: (c.evaluations, c.failures)
            for c in session.scalars(select(EvaluationCounter).where(EvaluationCounter.project_id == pid))
        }
    assert counters["fact_accuracy"] == (5, 1)
    assert counters["guardrails"] == (5, 1)
    assert counters["sla"] == (5, 2)  # the slow one and the error

    runs = {(r.model, r.domain): r for r in report.runs}
    assert set(runs) == {
        (None, None),
        ("gpt-4o", "billing"),
        ("gpt-4o-mini", "billing"),
        ("gpt-4o-mini", "shipping"),
    }
    app = runs[(None, None)]
    assert (app.app, app.trace_count, app.window_start, app.window_end) == (
        "support-bot",
        5,
        NOW - timedelta(hours=1),
        NOW,
    )
    assert app.fact_accuracy == pytest.approx(4 / 5)
    assert app.guardrail_pass_rate == pytest.approx(4 / 5)
    assert app.sla_compliance == pytest.approx(3 / 5)
    assert app.error_rate == pytest.approx(1 / 5)
    assert app.cost_per_request_usd == pytest.approx(0.002)
    assert app.latency_p50_seconds == pytest.approx(1.0)
    assert app.latency_p95_seconds == pytest.approx(2.6)  # percentile_cont over 1, 1, 1, 1, 3
    assert app.delta_previous == {} and app.delta_baseline == {}
    assert runs[("gpt-4o", "billing")].fact_accuracy == pytest.approx(2 / 3)

    # Nothing new: no trace is scored twice, and the same window keeps one run per scope.
    again = evaluate(settings, sessions, project_id=pid, now=NOW)
    assert again.scored == 0
    assert {r.id for r in again.runs} == {r.id for r in report.runs}
    with session_scope(settings.database.url) as session:
        assert session.scalar(select(func.count()).where(EvaluationRun.project_id == pid)) == 4
    # A re-sent trace is scored again.
    ingest(client, headers, [trace(2)])  # fixed answer
    second = evaluate(settings, sessions, project_id=pid, now=NOW + timedelta(minutes=1))
    assert second.scored == 1
    app2 = next(r for r in second.runs if r.model is None)
    assert app2.fact_accuracy == pytest.approx(1.0)
    assert app2.delta_previous["fact_accuracy"] == pytest.approx(0.2)

    # Re-sent without its reference or output, the trace keeps no stale fact accuracy score.
    ingest(client, headers, [trace(3, output="", reference=None)])
    assert evaluate(settings, sessions, project_id=pid, now=NOW + timedelta(minutes=2)).scored == 1
    with session_scope(settings.database.url) as session:
        names = session.scalars(
            select(TraceEvaluation.evaluator)
            .join(Trace, Trace.id == TraceEvaluation.trace_id)
            .where(Trace.project_id == pid, Trace.external_id == "e-3")
        )
        assert "fact_accuracy" not in set(names)


def test_baseline_is_the_pinned_run_else_the_trailing_days(client, make_key, settings, sessions):
    headers = make_key("eval-base")
    pid = project_id(settings.database.url, "eval-base")
    # Three days ago all answers were right; in the window half are wrong.
    ingest(client, headers, [trace(i, timestamp="2026-11-17T10:00:00Z") for i in range(4)])
    ingest(
        client,
        headers,
        [trace(10 + i, output="Refunds take 10 days." if i % 2 else "30 days.") for i in range(4)],
    )
    run = next(r for r in evaluate(settings, sessions, project_id=pid, now=NOW).runs if r.model is None)
    assert run.fact_accuracy == pytest.approx(0.5)
    assert run.delta_baseline["fact_accuracy"] == pytest.approx(-0.5)

    with session_scope(settings.database.url) as session:
        session.execute(update(EvaluationRun).where(EvaluationRun.id == run.id).values(is_baseline=True))
    later = next(r for r in evaluate(settings, sessions, project_id=pid, now=NOW).runs if r.model is None)
    assert later.delta_baseline["fact_accuracy"] == pytest.approx(0.0)  # against the pinned run


def test_expert_agreement_compares_labels_with_the_evaluators_verdict(client, make_key, settings, sessions):
    headers = make_key("eval-labels")
    pid = project_id(settings.database.url, "eval-labels")
    ingest(client, headers, [trace(1), trace(2, output="Refunds take 10 days."), trace(3)])
    evaluate(settings, sessions, project_id=pid, now=NOW)
    with session_scope(settings.database.url) as session:
        ids = dict(session.execute(select(Trace.external_id, Trace.id).where(Trace.project_id == pid)).all())
        for external_id, label in (("e-1", "pass"), ("e-2", "fail"), ("e-3", "fail")):  # e-3 disagrees
            session.add(ReviewLabel(project_id=pid, trace_id=ids[external_id], reviewer="ann", label=label))
    run = next(r for r in evaluate(settings, sessions, project_id=pid, now=NOW).runs if r.model is None)
    assert run.expert_agreement == pytest.approx(2 / 3)


def test_two_workers_share_the_backlog_without_scoring_anything_twice(client, make_key, settings, sessions):
    headers = make_key("eval-parallel")
    pid = project_id(settings.database.url, "eval-parallel")
    for start in range(0, 600, 200):
        ingest(client, headers, [trace(i) for i in range(start, start + 200)])
    evaluators = build_evaluators(settings)
    totals: list[int] = []

    def worker() -> None:
        totals.append(score_pending(sessions, evaluators, batch_size=25, project_id=pid))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(totals) == 600 and all(totals)  # both took a share
    with session_scope(settings.database.url) as session:
        counter = session.get(EvaluationCounter, (pid, "support-bot", "fact_accuracy"))
        assert counter.evaluations == 600
        per_trace = select(func.count()).where(
            TraceEvaluation.project_id == pid, TraceEvaluation.evaluator == "sla"
        )
        assert session.scalar(per_trace) == 600


def test_an_hourly_and_a_daily_run_are_separate_series(client, make_key, settings, sessions):
    headers = make_key("eval-lengths")
    pid = project_id(settings.database.url, "eval-lengths")
    ingest(client, headers, [trace(1), trace(2, output="Refunds take 10 days.")])

    def app_run(now, window=None):
        runs = evaluate(settings, sessions, project_id=pid, now=now, window=window).runs
        return next(r for r in runs if r.model is None)

    app_run(NOW)
    daily = app_run(NOW + timedelta(minutes=1), window=timedelta(days=1))
    assert daily.delta_previous == {}  # the hourly run is not the daily run's predecessor
    ingest(client, headers, [trace(2)])  # fixed: the next hourly window is better
    hourly = app_run(NOW + timedelta(minutes=2))
    assert hourly.delta_previous["fact_accuracy"] == pytest.approx(0.5)
