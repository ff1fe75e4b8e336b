"""Expert review: the queue, labels, labelled traces, agreement statistics and golden promotion."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ReviewerName = Annotated[str, Field(min_length=1, max_length=200)]
LabelValue = Literal["pass", "fail", "needs_review"]


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trace_id: uuid.UUID
    reviewer: ReviewerName
    label: LabelValue
    confidence: Annotated[float, Field(ge=0, le=1)] = 1.0
    notes: Annotated[str, Field(max_length=10_000)] = ""
    issue_categories: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=20)
    ] = []


class LabelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    trace_id: uuid.UUID
    reviewer: str
    label: str
    confidence: float
    notes: str
    issue_categories: list[str]
    created_at: datetime
    updated_at: datetime


class GoldenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trace_id: uuid.UUID
    actor: ReviewerName
    expected_answer: str | None = None
    facts: list[str] = []
    tags: list[Annotated[str, Field(max_length=100)]] = []


class GoldenCase(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    case_key: str
    reference: dict[str, Any] | None
    tags: list[str]
    source: str


class TraceSummary(BaseModel):
    trace_id: uuid.UUID
    external_id: str
    timestamp: datetime
    app: str
    model: str | None
    prompt_version: str | None
    domain: str | None
    status: str
    input: str
    output: str
    retrieved_context: list[Any]
    reference: dict[str, Any] | None

    @classmethod
    def of(cls, trace: Any, **extra: Any) -> "TraceSummary":
        """From a Trace row (its `id` is the `trace_id`); `extra` fills a subclass's own fields."""
        stored = cls.model_fields.keys() - {"trace_id"} - extra.keys()
        return cls(trace_id=trace.id, **{name: getattr(trace, name) for name in stored}, **extra)


class ScoredBy(BaseModel):
    evaluator: str
    score: float | None
    passed: bool | None
    reason: str


class QueueItem(TraceSummary):
    priority: int = Field(description="1: failing or borderline scores; 2: reviewers disagree; 3: a sample.")
    why: str
    evaluations: list[ScoredBy]


class Queue(BaseModel):
    items: list[QueueItem]


class LabelledTrace(LabelOut):
    trace: TraceSummary


class LabelledPage(BaseModel):
    total: int
    items: list[LabelledTrace]


class Agreement(BaseModel):
    reviewers: list[str]
    shared_traces: int
    kappa: float | None
    raw_agreement: float


class LabelStats(BaseModel):
    total_labels: int
    labelled_traces: int
    by_label: dict[str, int]
    by_reviewer: dict[str, dict[str, int]]
    by_category: dict[str, int]
    agreement: list[Agreement] = Field(description="Cohen's kappa of each pair of reviewers sharing traces.")
