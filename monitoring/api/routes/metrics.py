"""`GET /api/v1/metrics/latest` and `/trends`: what the evaluation agent's runs say, now and over time."""

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import distinct_on

from metamon.agents.evaluation.runs import METRICS, of_length
from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.api.schemas.metrics import (
    EvaluationRunOut,
    LatestRuns,
    TrendPoint,
    Trends,
    TrendSeries,
)
from metamon.monitoring.db.models import EvaluationRun

router = APIRouter(prefix="/metrics", tags=["metrics"])
Reader = Annotated[Principal, Depends(require_scope("read"))]
Metric = Literal[METRICS]  # type: ignore[valid-type]

DURATION = re.compile(r"^(\d{1,6})([mhd])$")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
MAX_TIMEFRAME = timedelta(days=366)
MAX_POINTS = 2000


def parse_duration(value: str, name: str) -> timedelta:
    match = DURATION.match(value)
    if not match:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"{name} must look like 30m, 24h or 7d, not {value!r}"
        )
    return timedelta(seconds=int(match[1]) * UNIT_SECONDS[match[2]])


WindowQuery = Annotated[
    str | None,
    Query(description="Length of the runs' windows: 1h, 1d… Default: the evaluation agent's window."),
]


def window_length(window: str | None, settings) -> timedelta:
    if window is None:
        return timedelta(seconds=settings.evaluation.window_seconds)
    return parse_duration(window, "window")


@router.get("/latest", response_model=LatestRuns)
def latest(
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    app: Annotated[str | None, Query(max_length=200)] = None,
    breakdown: Annotated[bool, Query(description="Also the per model/domain windows.")] = False,
    window: WindowQuery = None,
) -> LatestRuns:
    """The latest evaluation run of each scope: app-wide, and per model and domain with `breakdown`."""
    query = select(EvaluationRun).where(
        EvaluationRun.project_id == principal.project_id, of_length(window_length(window, settings))
    )
    if app is not None:
        query = query.where(EvaluationRun.app == app)
    if not breakdown:
        query = query.where(EvaluationRun.model.is_(None))
    scope = (EvaluationRun.app, EvaluationRun.model, EvaluationRun.domain)
    query = query.ext(distinct_on(*scope)).order_by(
        *scope, EvaluationRun.window_end.desc(), EvaluationRun.created_at.desc()
    )
    return LatestRuns(items=[EvaluationRunOut.of(run) for run in session.scalars(query)])


# Like a Prometheus range query, each point is the latest value in its bucket: here the newest app-wide
# run of the window length that ends in it. Runs overlap (a 1h window written every minute), so summing
# or averaging them would count a trace many times.
_TRENDS = """
SELECT DISTINCT ON (app, time) app,
    date_bin(make_interval(secs => :bucket), window_end, :origin) AS time, {metric} AS value,
    trace_count AS traces, window_end
FROM evaluation_runs
WHERE project_id = :project AND model IS NULL AND window_end > :since AND window_end <= :until
    AND window_end - window_start = make_interval(secs => :window) AND {metric} IS NOT NULL
    AND (CAST(:app AS text) IS NULL OR app = :app)
ORDER BY app, time, window_end DESC, created_at DESC
"""


@router.get("/trends", response_model=Trends)
def trends(
    session: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    metric: Metric = "fact_accuracy",
    timeframe: Annotated[str, Query(description="How far back: 30m, 24h, 7d…")] = "7d",
    bucket: Annotated[str, Query(description="Point spacing: 5m, 1h, 1d…")] = "1h",
    app: Annotated[str | None, Query(max_length=200)] = None,
    window: WindowQuery = None,
) -> Trends:
    """A metric of the app-wide runs over time, one series per app: per bucket, the value of the newest
    run ending in it, with that run's trace count and window end."""
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
            "window": window_length(window, settings).total_seconds(),
        },
    ).all()
    series: dict[str | None, list[TrendPoint]] = {}
    for row in rows:
        series.setdefault(row.app, []).append(
            TrendPoint(time=row.time, value=row.value, traces=row.traces, window_end=row.window_end)
        )
    return Trends(
        metric=metric,
        timeframe=timeframe,
        bucket=bucket,
        series=[TrendSeries(app=name, points=points) for name, points in series.items()],
    )
