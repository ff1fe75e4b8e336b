"""The narrative path with LangChain's fake chat models, malformed replies included."""

import json
import logging

from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage

from metamon.agents.research.agent import research
from metamon.agents.research.narrative import load_prompt
from tests.agents.research import scenarios
from tests.agents.research.data import make_project
from tests.agents.research.scenarios import WINDOW

REPLY = {
    "narrative": "Prompt v7 of support-bot fails fact accuracy on 60% of its traces against 5% before. "
    "Rolling back to v6 should bring accuracy from 76.7% to about 95%.",
    "alternatives": [
        {
            "title": "Fix v7's refund instructions",
            "rationale": "The failures contradict the refund window.",
            "effort": "medium",
        },
        {"title": "Canary v7 at 10%", "rationale": "Limits the damage while it is fixed.", "effort": "low"},
    ],
}


def draft_with(db, settings, model):
    project = make_project(db)
    scenarios.prompt_regression(db, project)
    return research(
        db,
        settings,
        project_id=project,
        metric="fact_accuracy",
        app="support-bot",
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        chat_model=model,
    )


def test_the_model_writes_the_narrative_and_alternatives(db, settings):
    model = GenericFakeChatModel(messages=iter([AIMessage(json.dumps(REPLY))]))
    draft = draft_with(db, settings, model)
    assert draft.narrative == REPLY["narrative"]
    assert draft.alternatives == REPLY["alternatives"]
    # The deterministic analysis is untouched by the model.
    assert draft.recommended_change["type"] == "rollback_prompt_version"


def test_a_malformed_reply_is_retried_with_the_error(db, settings):
    too_few = {**REPLY, "alternatives": REPLY["alternatives"][:1]}
    model = FakeListChatModel(
        responses=["Here is my analysis: v7 is bad.", json.dumps(too_few), json.dumps(REPLY)]
    )
    draft = draft_with(db, settings, model)
    assert draft.narrative == REPLY["narrative"] and len(draft.alternatives) == 2


def test_without_a_readable_reply_the_deterministic_draft_stands(db, settings, caplog):
    model = FakeListChatModel(responses=["not json"] * 3)
    with caplog.at_level(logging.WARNING, logger="metamon.agents.research.narrative"):
        draft = draft_with(db, settings, model)
    assert draft.narrative is None and draft.alternatives == []
    assert draft.root_cause_key == "fact_accuracy|app=support-bot|prompt_version=v7"
    assert "no readable reply after 3 attempts" in caplog.text


def test_the_prompt_is_a_data_file_with_its_variables():
    prompt = load_prompt()
    assert "{format_instructions}" in prompt["system"]
    assert "{analysis}" in prompt["human"] and "{error}" in prompt["retry"]
