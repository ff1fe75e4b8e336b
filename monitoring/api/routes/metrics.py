"""`GET /api/v1/metrics/latest` and `/trends`: what the evaluation agent's runs say, now and over time."""

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import distinct_on

from agents.evaluation.runs import METRICS
from monitoring.api.deps import Principal, SessionDep, require_scope
from monitoring.db.models import EvaluationRun

router = APIRouter(prefix="/metrics", tags=["metrics"])
Reader = Annotated[Principal, Depends(require_scope("read"))]
Metric = Literal[METRICS]  # type: ignore[valid-type]

DURATION = re.compile(r"^(\d{1,6})([mhd])$")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
MAX_TIMEFRAME = timedelta(days=366)
MAX_POINTS = 2000


def run_json(run: EvaluationRun) -> dict:
    return {
        "id": str(run.id),
        "app": run.app,
        "model": run.model,
        "domain": run.domain,
        "window_start": run.window_start,
        "window_end": run.window_end,
        "trace_count": run.trace_count,
        "metrics": {m: getattr(run, m) for m in METRICS},
        "delta_previous": run.delta_previous,
        "delta_baseline": run.delta_baseline,
        "is_baseline": run.is_baseline,
        "trigger": run.trigger,
        "created_at": run.created_at,
    }


def parse_duration(value: str, name: str) -> timedelta:
    match = DURATION.match(value)
    if not match:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} must look like 30m, 24h or 7d, not {value!r}"
        )
    return timedelta(seconds=int(match[1]) * UNIT_SECONDS[match[2]])


@router.get("/latest")
def latest(
    session: SessionDep,
    principal: Reader,
    app: Annotated[str | None, Query(max_length=200)] = None,
    breakdown: Annotated[bool, Query(description="Also the per model/domain windows.")] = False,
) -> dict:
    """The latest evaluation run of each scope: app-wide, and per model and domain with `breakdown`."""
    query = select(EvaluationRun).where(EvaluationRun.project_id == principal.project_id)
    if app is not None:
        query = query.where(EvaluationRun.app == app)
    if not breakdown:
        query = query.where(EvaluationRun.model.is_(None))
    scope = (EvaluationRun.app, EvaluationRun.model, EvaluationRun.domain)
    query = query.ext(distinct_on(*scope)).order_by(
        *scope, EvaluationRun.window_end.desc(), EvaluationRun.created_at.desc()
    )
    return {"items": [run_json(run) for run in session.scalars(query)]}


_TRENDS = """
SELECT app, date_bin(make_interval(secs => :bucket), window_end, :origin) AS time,
    sum({metric} * trace_count) / nullif(sum(trace_count) FILTER (WHERE {metric} IS NOT NULL), 0) AS value,
    sum(trace_count) AS traces
FROM evaluation_runs
WHERE project_id = :project AND model IS NULL AND window_end > :since AND window_end <= :until
    AND (CAST(:app AS text) IS NULL OR app = :app)
GROUP BY app, time ORDER BY app, time
"""


@router.get("/trends")
def trends(
    session: SessionDep,
    principal: Reader,
    metric: Metric = "fact_accuracy",
    timeframe: Annotated[str, Query(description="How far back: 30m, 24h, 7d…")] = "7d",
    bucket: Annotated[str, Query(description="Point spacing: 5m, 1h, 1d…")] = "1h",
    app: Annotated[str | None, Query(max_length=200)] = None,
) -> dict:
    """A metric of the app-wide runs over time, one series per app, averaged per bucket (weighted by
    each run's trace count)."""
    span, step = parse_duration(timeframe, "timeframe"), parse_duration(bucket, "bucket")
    if not timedelta(minutes=1) <= step <= span <= MAX_TIMEFRAME or span / step > MAX_POINTS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"need 1m <= bucket <= timeframe <= 366d and at most {MAX_POINTS} buckets",
        )
    until = datetime.now(UTC)
    rows = session.execute(
        text(_TRENDS.format(metric=metric)),  # metric is one of METRICS (validated), never user text
        {
            "bucket": step.total_seconds(),
            "origin": datetime(2000, 1, 1, tzinfo=UTC),
            "project": principal.project_id,
            "since": until - span,
            "until": until,
            "app": app,
        },
    ).all()
    series: dict[str, list[dict]] = {}
    for row in rows:
        series.setdefault(row.app, []).append({"time": row.time, "value": row.value, "traces": row.traces})
    return {
        "metric": metric,
        "timeframe": timeframe,
        "bucket": bucket,
        "series": [{"app": name, "points": points} for name, points in series.items()],
    }
