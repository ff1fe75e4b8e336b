"""LLM judge: a LangChain chat model scores the answer. The prompt is a data file
(prompts/llm_judge.yaml); the reply is parsed into a pydantic model, and a malformed reply is sent
back with the parse error, up to `max_retries` times. Active only when a model is configured."""

import json
from functools import cache
from importlib.resources import files

import yaml
from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import PydanticOutputParser
from pydantic import BaseModel, Field

from metamon.agents.evaluation.evaluators.base import Evaluator, Score, TraceLike

PROMPT_FILE = files("metamon.agents.evaluation") / "prompts" / "llm_judge.yaml"


class JudgeVerdict(BaseModel):
    score: float = Field(ge=0, le=1, description="0 = useless or wrong, 1 = fully correct and grounded")
    passed: bool = Field(description="true when the score is at least 0.7")
    reasoning: str = Field(description="one or two sentences on why")


@cache
def load_prompt() -> dict:
    return yaml.safe_load(PROMPT_FILE.read_text())


class LlmJudge(Evaluator):
    name = "llm_judge"
    kind = "llm"
    direction = "maximize"

    def __init__(self, model: BaseChatModel | None, max_retries: int = 2):
        self.model, self.max_retries = model, max_retries
        self.parser = PydanticOutputParser(pydantic_object=JudgeVerdict)

    def available(self) -> tuple[bool, str]:
        return (True, "") if self.model is not None else (False, "no chat model configured")

    def evaluate(self, trace: TraceLike) -> Score | None:
        if self.model is None:
            return None
        prompt = load_prompt()
        reference = trace.reference or {}
        messages = [
            SystemMessage(prompt["system"].format(format_instructions=self.parser.get_format_instructions())),
            HumanMessage(
                prompt["human"].format(
                    input=trace.input or "(none)",
                    output=trace.output or "(empty)",
                    context="\n".join(str(d.get("content", "")) for d in trace.retrieved_context or [])
                    or "(none)",
                    reference=json.dumps(reference) if reference else "(none)",
                )
            ),
        ]
        errors = []
        for _ in range(self.max_retries + 1):
            reply = self.model.invoke(messages)
            try:
                verdict = self.parser.parse(str(reply.content))
            except OutputParserException as exc:
                errors.append(str(exc).splitlines()[0])
                messages += [
                    AIMessage(str(reply.content)),
                    HumanMessage(prompt["retry"].format(error=errors[-1])),
                ]
                continue
            return Score(verdict.score, verdict.passed, verdict.reasoning, {"attempts": len(errors) + 1})
        return Score(
            None,
            None,
            f"the judge gave no readable verdict after {len(errors)} attempts",
            {"errors": errors, "attempts": len(errors)},
        )
