"""One trace in full: the document the search index holds for it (monitoring/search/documents.py)."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TraceEvaluationView(BaseModel):
    evaluator: str
    kind: str
    score: float | None
    passed: bool | None
    reason: str | None


class TraceDocument(BaseModel):
    # The document's other fields (context, reference text, tokens, spans' details...) pass through.
    model_config = ConfigDict(extra="allow")

    trace_id: str
    project_id: str
    external_id: str | None
    timestamp: str
    app: str
    model: str | None
    prompt_version: str | None
    domain: str | None
    status: str
    input: str | None
    output: str | None
    latency_seconds: float | None
    cost_usd: float | None
    tags: list[str] | None
    metadata: dict[str, Any] | None
    spans: list[dict[str, Any]] = Field(description="Its spans: id, name, kind, status, input, output.")
    scores: dict[str, float] = Field(description="Evaluator -> score.")
    evaluations: list[TraceEvaluationView]
    evaluators_failed: list[str]
    labels: list[str] = Field(description="Expert review labels.")
    reviewers: list[str]
