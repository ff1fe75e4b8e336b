"""Chat model factories named in METAMON_LLM_FACTORY by the tests: LangChain's own fake models."""

import json

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from tests.agents.research.test_narrative import REPLY


def judge() -> FakeListChatModel:
    return FakeListChatModel(responses=[json.dumps({"score": 0.25, "passed": False, "reasoning": "vague"})])


def narrator() -> FakeListChatModel:
    return FakeListChatModel(responses=[json.dumps(REPLY)])


def not_a_model() -> str:
    return "hello"
