"""Evaluation runs as the metrics API shows them: the latest of each scope, and one metric over time."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from metamon.agents.evaluation.runs import METRICS
from metamon.monitoring.db.models import EvaluationRun


class EvaluationRunOut(BaseModel):
    id: uuid.UUID
    app: str | None
    model: str | None
    domain: str | None
    window_start: datetime
    window_end: datetime
    trace_count: int
    metrics: dict[str, float | None]
    delta_previous: dict[str, Any]
    delta_baseline: dict[str, Any]
    is_baseline: bool
    trigger: str
    created_at: datetime

    @classmethod
    def of(cls, run: EvaluationRun) -> "EvaluationRunOut":
        stored = cls.model_fields.keys() - {"metrics"}
        return cls(
            **{name: getattr(run, name) for name in stored}, metrics={m: getattr(run, m) for m in METRICS}
        )


class LatestRuns(BaseModel):
    items: list[EvaluationRunOut]


class TrendPoint(BaseModel):
    time: datetime
    value: float
    traces: int
    window_end: datetime


class TrendSeries(BaseModel):
    app: str | None
    points: list[TrendPoint]


class Trends(BaseModel):
    metric: str
    timeframe: str
    bucket: str
    series: list[TrendSeries]
