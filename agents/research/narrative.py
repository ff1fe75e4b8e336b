"""Narrative and alternatives from a LangChain chat model, written from the deterministic analysis.

The prompt is a data file (prompts/narrative.yaml); the reply is parsed into a pydantic model and a
malformed reply is sent back with the parse error, up to `max_retries` times. Without a readable
reply the proposal keeps its deterministic content and no narrative."""

import json
import logging
from functools import cache
from importlib.resources import files
from typing import Literal

import yaml
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import PydanticOutputParser
from pydantic import BaseModel, Field

PROMPT_FILE = files(__package__) / "prompts" / "narrative.yaml"
log = logging.getLogger(__name__)


class Alternative(BaseModel):
    title: str = Field(description="the alternative change, in a few words")
    rationale: str = Field(description="one sentence on why it would help")
    effort: Literal["low", "medium", "high"]


class NarrativeReply(BaseModel):
    narrative: str = Field(description="3 to 6 sentences for the engineer who decides")
    alternatives: list[Alternative] = Field(min_length=2, max_length=3)


@cache
def load_prompt() -> dict:
    return yaml.safe_load(PROMPT_FILE.read_text())


def write_narrative(model: BaseChatModel, analysis: dict, max_retries: int = 2) -> NarrativeReply | None:
    prompt = load_prompt()
    parser = PydanticOutputParser(pydantic_object=NarrativeReply)
    messages = [
        SystemMessage(prompt["system"].format(format_instructions=parser.get_format_instructions())),
        HumanMessage(prompt["human"].format(analysis=json.dumps(analysis, indent=2, default=str))),
    ]
    errors = []
    for _ in range(max_retries + 1):
        reply = str(model.invoke(messages).content)
        try:
            return parser.parse(reply)
        except OutputParserException as exc:
            errors.append(str(exc).splitlines()[0])
            messages += [AIMessage(reply), HumanMessage(prompt["retry"].format(error=errors[-1]))]
    log.warning("research narrative: no readable reply after %d attempts: %s", len(errors), errors[-1])
    return None
