"""Hostile traces against the real database: an evaluator that raises on one trace leaves its error on
that trace and the batch goes on; a flooded project never starves another one's scoring."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from metamon.agents.evaluation.agent import evaluate
from metamon.agents.evaluation.evaluators.base import Evaluator, Score
from metamon.agents.evaluation.registry import build_evaluators
from metamon.agents.evaluation.scoring import score_batch
from metamon.exporter.collectors.failures import FailuresCollector
from metamon.monitoring.api.deps import current_settings
from metamon.monitoring.api.main import create_app
from metamon.monitoring.db.models import EvaluationCounter, Trace, TraceEvaluation
from metamon.monitoring.db.session import session_factory, session_scope
from tests.agents.evaluation.test_agent import NOW, ingest, project_id, trace
from tests.conftest import _key_maker

POISON = "[" * 100_000  # json.loads raises RecursionError on it


def scores_of(database_url, pid) -> dict[str, dict[str, TraceEvaluation]]:
    with session_scope(database_url) as session:
        rows = session.execute(
            select(Trace.external_id, TraceEvaluation)
            .join(TraceEvaluation, TraceEvaluation.trace_id == Trace.id)
            .where(Trace.project_id == pid)
        ).all()
        session.expunge_all()
    found: dict[str, dict[str, TraceEvaluation]] = {}
    for external_id, evaluation in rows:
        found.setdefault(external_id, {})[evaluation.evaluator] = evaluation
    return found


def test_a_poisoned_trace_costs_one_evaluator_score_and_the_batch_goes_on(client, make_key, settings, drain):
    headers = make_key("poison-1")
    pid = project_id(settings.database.url, "poison-1")
    schema = {"type": "object"}
    ingest(
        client,
        headers,
        [
            trace(1),
            trace(2, output=POISON, output_schema=schema),
            trace(3, output='{"answer": "30 days"}', output_schema=schema),
        ],
    )
    report = evaluate(settings, session_factory(settings.database.url), project_id=pid, now=NOW)
    assert report.scored == 3

    scores = scores_of(settings.database.url, pid)
    poisoned = scores["e-2"]["guardrails"]
    assert (poisoned.score, poisoned.passed) == (None, None)
    assert poisoned.error.startswith("RecursionError: ")
    assert poisoned.reason.startswith("evaluator error: RecursionError")
    # The poisoned trace keeps its other scores; its neighbours are scored in full.
    assert {"fact_accuracy", "sla", "cost"} <= set(scores["e-2"])
    assert scores["e-2"]["sla"].error is None and scores["e-2"]["sla"].passed is True
    assert scores["e-3"]["guardrails"].passed is True and scores["e-1"]["guardrails"].passed is True

    with session_scope(settings.database.url) as session:
        counter = session.get(EvaluationCounter, (pid, "support-bot", "guardrails"))
        assert (counter.evaluations, counter.failures, counter.errors) == (2, 0, 1)
    # The exporter counts it.
    families = {
        f.name: f for f in FailuresCollector(session_factory(settings.database.url), settings).collect()
    }
    errors = {
        tuple(s.labels[k] for k in ("project", "app", "evaluator")): s.value
        for s in families["metamon_evaluator_errors"].samples
        if s.name == "metamon_evaluator_errors_total"
    }
    assert errors[("poison-1", "support-bot", "guardrails")] == 1
    assert errors[("poison-1", "support-bot", "sla")] == 0

    # The error is visible in the API's evaluation results.
    drain()
    found = client.get(
        "/api/v1/search/evaluations",
        params={"evaluator": "guardrails", "q": "RecursionError"},
        headers=headers,
    )
    assert found.status_code == 200, found.text
    (item,) = found.json()["items"]
    assert item["external_id"] == "e-2"
    (evaluation,) = item["evaluations"]
    assert evaluation["passed"] is None and "RecursionError" in evaluation["reason"]


class Exploding(Evaluator):
    """An evaluator with a bug on some input (any exception type, not only ValueError)."""

    name = "exploding"
    kind = "code"

    def evaluate(self, trace):
        if "boom" in trace.output:
            raise KeyError("boom")
        return Score(1.0, True, "fine")


def test_any_exception_is_recorded_with_its_type(client, make_key, settings):
    headers = make_key("poison-2")
    pid = project_id(settings.database.url, "poison-2")
    ingest(client, headers, [trace(1, output="boom"), trace(2)])
    sessions = session_factory(settings.database.url)
    with sessions() as session, session.begin():
        assert score_batch(session, [Exploding()], 10, pid) == 2
    scores = scores_of(settings.database.url, pid)
    assert scores["e-1"]["exploding"].error == "KeyError: 'boom'"
    assert scores["e-2"]["exploding"].score == 1.0


@pytest.fixture
def private_client(settings, private_database_url):
    """The API on a database of this module's own: fairness is about every project with a backlog."""
    private = settings.model_copy(update={"database_url": private_database_url})
    app = create_app()
    app.dependency_overrides[current_settings] = lambda: private
    with TestClient(app) as test_client:
        yield test_client, private


def test_one_projects_backlog_never_starves_another(private_client):
    client, settings = private_client
    keys = _key_maker(settings.database.url)
    flood, small = keys("fair-flood"), keys("fair-small")
    for start in range(0, 300, 100):  # older than the small project's traces: oldest-first would pick it
        ingest(client, flood, [trace(i, timestamp="2026-11-20T09:00:00Z") for i in range(start, start + 100)])
    ingest(client, small, [trace(i) for i in range(5)])
    flood_id = project_id(settings.database.url, "fair-flood")

    sessions = session_factory(settings.database.url)
    with sessions() as session, session.begin():
        assert score_batch(session, build_evaluators(settings), 20) == 15  # 10 each at most
    with session_scope(settings.database.url) as session:
        unscored = dict(
            session.execute(
                select(Trace.project_id, func.count())
                .where(Trace.evaluated_at.is_(None))
                .group_by(Trace.project_id)
            ).all()
        )
    assert unscored == {flood_id: 290}  # the small project was scored in the very first batch


def test_control_evaluate_answers_with_a_poisoned_trace_in_the_backlog(client, make_key, settings):
    headers = make_key("poison-3", ("ingest", "read", "admin"))
    ingest(client, headers, [trace(1, output=POISON, output_schema={"type": "array"}), trace(2)])
    response = client.post("/api/v1/control/evaluate", json={}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["scored"] == 2
    # Nothing is left to retry: the poisoned trace is scored (with its error), not pending forever.
    assert client.post("/api/v1/control/evaluate", json={}, headers=headers).json()["scored"] == 0
