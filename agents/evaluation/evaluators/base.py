"""What every evaluator is: a name, a kind (code / embedding / llm), a direction, and a score per trace."""

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

Kind = Literal["code", "embedding", "llm"]
Direction = Literal["maximize", "minimize"]


class TraceLike(Protocol):
    """The trace fields evaluators read (the ORM `Trace` has them all)."""

    app: str
    model: str | None
    input: str
    output: str
    retrieved_context: list[dict]
    reference: dict | None
    output_schema: dict | None
    latency_seconds: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    status: str
    error_type: str | None


@dataclass(frozen=True)
class Score:
    """score in [0, 1] (1 is best for a maximize evaluator); passed is the verdict at the threshold."""

    score: float | None
    passed: bool | None
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


class Evaluator:
    name: ClassVar[str]
    kind: ClassVar[Kind]
    direction: ClassVar[Direction] = "maximize"

    def available(self) -> tuple[bool, str]:
        """(usable, why not). Evaluators needing an optional extra or a model say so here."""
        return True, ""

    def evaluate(self, trace: TraceLike) -> Score | None:
        """The score of one trace, or None when the evaluator does not apply to it."""
        raise NotImplementedError
