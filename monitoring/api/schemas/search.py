"""Search results: a page of traces (or of traces with their matching evaluations), and aggregations."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Page(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    total: int
    # "gte" when more than METAMON_SEARCH_EXACT_TOTAL_UP_TO traces match: `total` is then a lower bound.
    total_relation: Literal["eq", "gte"] = "eq"
    items: list[dict[str, Any]]
    next_cursor: str | None = None


class TimeCount(BaseModel):
    time: str
    count: int


class EvaluatorAggregate(BaseModel):
    count: int
    avg_score: float | None
    failed: int


class Aggregations(BaseModel):
    total: int
    app: dict[str, int] = Field(description="Traces per value (the 50 most frequent); so are the next five.")
    domain: dict[str, int]
    model: dict[str, int]
    status: dict[str, int]
    label: dict[str, int]
    prompt_version: dict[str, int]
    over_time: list[TimeCount]
    latency_seconds: dict[str, float | None] = Field(description="p50, p95 and p99.")
    cost_usd: float | None
    evaluators: dict[str, EvaluatorAggregate]
