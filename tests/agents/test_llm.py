"""The configured chat model reaches the LLM judge and the research narrative; a model that cannot be
built leaves the deterministic path working."""

import logging

from sqlalchemy import select

from metamon.agents.evaluation.agent import evaluate
from metamon.agents.llm import configured_chat_model
from metamon.monitoring.db.models import Project, TraceEvaluation
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.workflow.research import propose
from tests.agents.research.test_narrative import REPLY
from tests.monitoring.workflow.seed import prompt_regression_now


def test_no_model_is_configured_by_default(settings):
    assert configured_chat_model(settings.model_copy(update={"llm_model": "", "llm_factory": ""})) is None


def test_a_model_that_cannot_be_built_is_logged_and_left_out(settings, caplog):
    with caplog.at_level(logging.ERROR, logger="metamon.agents.llm"):
        for update in (
            {"llm_model": "no-such-provider:some-model"},
            {"llm_factory": "tests.agents.chat_models:not_a_model"},
            {"llm_factory": "tests.agents.chat_models:missing"},
        ):
            assert configured_chat_model(settings.model_copy(update=update)) is None
    assert "no-such-provider:some-model" in caplog.text
    assert "returned str, not a LangChain chat model" in caplog.text
    assert "tests.agents.chat_models:missing" in caplog.text


def test_the_evaluation_agent_judges_with_the_configured_model(client, make_key, settings):
    headers = make_key("llm-judge")
    trace = {"id": "j-1", "app": "support-bot", "input": "Refund time?", "output": "Soon."}
    assert client.post("/api/v1/traces", json={"traces": [trace]}, headers=headers).status_code == 200
    with session_scope(settings.database.url) as session:
        pid = session.scalar(select(Project.id).where(Project.slug == "llm-judge"))
    judged = settings.model_copy(update={"llm_factory": "tests.agents.chat_models:judge"})

    assert evaluate(judged, session_factory(settings.database.url), project_id=pid).scored == 1

    with session_scope(settings.database.url) as session:
        score = session.scalar(
            select(TraceEvaluation).where(
                TraceEvaluation.project_id == pid, TraceEvaluation.evaluator == "llm_judge"
            )
        )
        assert (score.kind, score.score, score.passed, score.reason) == ("llm", 0.25, False, "vague")


def test_the_research_agent_writes_its_narrative_with_the_configured_model(make_key, settings):
    make_key("llm-narrative")
    project_id = prompt_regression_now(settings.database.url, "llm-narrative")
    narrated = settings.model_copy(update={"llm_factory": "tests.agents.chat_models:narrator"})

    with session_scope(settings.database.url) as session:
        proposal, created = propose(
            session, narrated, project_id=project_id, metric="fact_accuracy", app="support-bot", actor="test"
        )
        assert created and proposal.narrative == REPLY["narrative"]
        assert proposal.alternatives == REPLY["alternatives"]
