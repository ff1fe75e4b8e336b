"""`GET /api/v1/search/traces | evaluations | aggregations`: Elasticsearch, one project at a time (run by
monitoring/search/execution.py)."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, status

from metamon.monitoring.api.deps import Principal, SettingsDep, require_scope
from metamon.monitoring.api.schemas.search import Aggregations, Page
from metamon.monitoring.search import execution
from metamon.monitoring.search.execution import RETRY_AFTER_SECONDS, SearchUnavailable
from metamon.monitoring.search.queries import EvaluationFilter, InvalidQuery, ScoreRange, TraceFilters

router = APIRouter(prefix="/search", tags=["search"])
Reader = Annotated[Principal, Depends(require_scope("read"))]
PageSize = Annotated[int, Query(ge=1, le=100, description="Items per page (at most 100).")]
Answer = TypeVar("Answer")
_RESPONSES = {
    422: {"description": "An invalid filter or cursor, an expired cursor, or a query Elasticsearch refused"},
    503: {"description": "Elasticsearch did not answer; retry after Retry-After seconds"},
}


def _answer(call: Callable[[], Answer]) -> Answer:
    """The search's failures as the API's answers: 422 for the query's fault, 503 when search is down."""
    try:
        return call()
    except InvalidQuery as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except SearchUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        ) from None


def trace_filters(
    app: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults per request
    model: Annotated[list[str], Query()] = [],  # noqa: B006
    domain: Annotated[list[str], Query()] = [],  # noqa: B006
    prompt_version: Annotated[list[str], Query()] = [],  # noqa: B006
    status_: Annotated[list[Literal["ok", "error"]], Query(alias="status")] = [],  # noqa: B006
    label: Annotated[list[Literal["pass", "fail", "needs_review"]], Query()] = [],  # noqa: B006
    tag: Annotated[list[str], Query()] = [],  # noqa: B006
    score: Annotated[list[str], Query(description="evaluator:min:max, e.g. fact_accuracy::0.6")] = [],  # noqa: B006
    start: datetime | None = None,
    end: datetime | None = None,
) -> TraceFilters:
    scores = _answer(lambda: [ScoreRange.parse(s) for s in score])
    return TraceFilters(
        app=app,
        model=model,
        domain=domain,
        prompt_version=prompt_version,
        status=status_,
        label=label,
        tag=tag,
        scores=scores,
        start=start,
        end=end,
    )


Filters = Annotated[TraceFilters, Depends(trace_filters)]


@router.get("/traces", response_model=Page, responses=_RESPONSES)
def search_traces(
    settings: SettingsDep,
    principal: Reader,
    filters: Filters,
    q: Annotated[
        str | None, Query(max_length=1000, description="Free text (simple_query_string syntax).")
    ] = None,
    sort: Literal["relevance", "timestamp", "latency", "cost"] | None = None,
    order: Literal["asc", "desc"] = "desc",
    size: PageSize = 20,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> Page:
    """Full-text search with filters, sorting, highlights and search_after paging (a relevance sort
    pages through a point in time, so no page repeats or skips a trace while scores shift)."""
    hits = _answer(
        lambda: execution.search_traces(settings, principal.project_id, q, filters, sort, order, size, cursor)
    )
    return Page.model_validate(hits)


@router.get("/evaluations", response_model=Page, responses=_RESPONSES)
def search_evaluations(
    settings: SettingsDep,
    principal: Reader,
    filters: Filters,
    evaluator: str | None = None,
    passed: bool | None = None,
    score_min: Annotated[float | None, Query(ge=0, le=1)] = None,
    score_max: Annotated[float | None, Query(ge=0, le=1)] = None,
    q: Annotated[
        str | None, Query(max_length=1000, description="Free text in the evaluators' reasons.")
    ] = None,
    size: PageSize = 20,
    cursor: str | None = None,
) -> Page:
    """Traces whose evaluator scores match, each with the matching evaluations."""
    hits = _answer(
        lambda: execution.search_evaluations(
            settings,
            principal.project_id,
            filters,
            EvaluationFilter(evaluator, passed, score_min, score_max, q),
            size,
            cursor,
        )
    )
    return Page.model_validate(hits)


@router.get("/aggregations", response_model=Aggregations, responses=_RESPONSES)
def search_aggregations(
    settings: SettingsDep,
    principal: Reader,
    filters: Filters,
    q: Annotated[str | None, Query(max_length=1000)] = None,
    interval: Literal["minute", "hour", "day", "week", "month"] = "day",
) -> Aggregations:
    """Counts by app, domain, model, status, label and prompt version; traces over time; latency
    percentiles; total cost; average score and failures per evaluator."""
    return Aggregations(
        **_answer(lambda: execution.aggregate(settings, principal.project_id, q, filters, interval))
    )
