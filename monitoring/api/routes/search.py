"""`GET /api/v1/search/traces | evaluations | aggregations`: Elasticsearch, one project at a time."""

from datetime import datetime
from typing import Annotated, Any, Literal

from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import BadRequestError, NotFoundError
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from metamon.monitoring.api.deps import Principal, SettingsDep, require_scope
from metamon.monitoring.search.client import get_es
from metamon.monitoring.search.indices import ensure_indices
from metamon.monitoring.search.queries import (
    Cursor,
    InvalidQuery,
    ScoreRange,
    TraceFilters,
    aggregations_body,
    decode_cursor,
    encode_cursor,
    search_evaluations_body,
    search_traces_body,
)

router = APIRouter(prefix="/search", tags=["search"])
Reader = Annotated[Principal, Depends(require_scope("read"))]
PageSize = Annotated[int, Query(ge=1, le=100, description="Items per page (at most 100).")]


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
    try:
        scores = [ScoreRange.parse(s) for s in score]
    except InvalidQuery as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
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


class Page(BaseModel):
    total: int
    # "gte" when more than METAMON_SEARCH_EXACT_TOTAL_UP_TO traces match: `total` is then a lower bound.
    total_relation: Literal["eq", "gte"] = "eq"
    items: list[dict[str, Any]]
    next_cursor: str | None = None


# How long a relevance-sorted search's point in time lives between two pages.
PIT_KEEP_ALIVE = "2m"


def _es_errors(call):
    """Elasticsearch's failures as the API's answers: 503 when it is down, 422 when it refuses."""
    try:
        return call()
    except (EsConnectionError, ConnectionTimeout):
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "search is unavailable: Elasticsearch did not answer"
        ) from None
    except BadRequestError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"Elasticsearch refused the query: {exc.message}"
        ) from None


def _on_indices(settings, call):
    """`call(es)`; when the alias does not exist yet (nothing indexed), create it empty and call again."""
    es = get_es(settings.elasticsearch_url)
    try:
        return call(es)
    except NotFoundError:
        ensure_indices(es, settings)
        return call(es)


def _run(settings, body: dict) -> dict:
    def search() -> dict:
        if "pit" not in body:
            return _on_indices(settings, lambda es: es.search(index=settings.traces_index_alias, **body).body)
        try:  # a point in time names its indices itself; gone, it is a 404
            return get_es(settings.elasticsearch_url).search(**body).body
        except NotFoundError:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"the cursor has expired (pages of a relevance search live {PIT_KEEP_ALIVE}): "
                "start again from the first page",
            ) from None

    return _es_errors(search)


def _open_pit(settings) -> str:
    def open_pit(es) -> str:
        return es.open_point_in_time(index=settings.traces_index_alias, keep_alive=PIT_KEEP_ALIVE)["id"]

    return _es_errors(lambda: _on_indices(settings, open_pit))


def _build(builder, *args):
    try:
        return builder(*args)
    except InvalidQuery as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None


def _page(result: dict, size: int, item, settings) -> Page:
    hits = result["hits"]["hits"]
    pit = result.get("pit_id")
    more = len(hits) == size
    if pit and not more:  # the last page: its point in time can go now
        get_es(settings.elasticsearch_url).options(ignore_status=404).close_point_in_time(id=pit)
    total = result["hits"]["total"]
    return Page(
        total=total["value"],
        total_relation=total["relation"],
        items=[item(h) for h in hits],
        next_cursor=encode_cursor(Cursor(hits[-1]["sort"], pit)) if more else None,
    )


@router.get("/traces", response_model=Page)
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
    sort = sort or ("relevance" if q else "timestamp")
    after = _build(decode_cursor, cursor) if cursor else None
    body = _build(
        search_traces_body,
        principal.project_id,
        q,
        filters,
        sort,
        order,
        size,
        after,
        settings.search_exact_total_up_to,
    )
    if sort == "relevance":
        pit = after.pit if after and after.pit else _open_pit(settings)
        body["pit"] = {"id": pit, "keep_alive": PIT_KEEP_ALIVE}
    result = _run(settings, body)
    return _page(
        result,
        size,
        lambda h: {**h["_source"], "score": h.get("_score"), "highlights": h.get("highlight", {})},
        settings,
    )


@router.get("/evaluations", response_model=Page)
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
    body = _build(
        search_evaluations_body,
        principal.project_id,
        filters,
        evaluator,
        passed,
        score_min,
        score_max,
        q,
        size,
        _build(decode_cursor, cursor) if cursor else None,
        settings.search_exact_total_up_to,
    )
    result = _run(settings, body)

    def item(hit: dict) -> dict:
        inner = hit["inner_hits"]["evaluations"]["hits"]["hits"]
        return {**hit["_source"], "evaluations": [e["_source"] for e in inner]}

    return _page(result, size, item, settings)


@router.get("/aggregations")
def search_aggregations(
    settings: SettingsDep,
    principal: Reader,
    filters: Filters,
    q: Annotated[str | None, Query(max_length=1000)] = None,
    interval: Literal["minute", "hour", "day", "week", "month"] = "day",
) -> dict:
    """Counts by app, domain, model, status, label and prompt version; traces over time; latency
    percentiles; total cost; average score and failures per evaluator."""
    result = _run(settings, aggregations_body(principal.project_id, q, filters, interval))
    aggs = result["aggregations"]
    buckets = {
        name.removeprefix("by_"): {b["key"]: b["doc_count"] for b in agg["buckets"]}
        for name, agg in aggs.items()
        if name.startswith("by_")
    }
    return {
        "total": result["hits"]["total"]["value"],
        **buckets,
        "over_time": [
            {"time": b["key_as_string"], "count": b["doc_count"]} for b in aggs["over_time"]["buckets"]
        ],
        "latency_seconds": {f"p{float(k):g}": v for k, v in aggs["latency_seconds"]["values"].items()},
        "cost_usd": aggs["cost_usd"]["value"],
        "evaluators": {
            b["key"]: {
                "count": b["doc_count"],
                "avg_score": b["avg_score"]["value"],
                "failed": b["failed"]["doc_count"],
            }
            for b in aggs["evaluators"]["by_evaluator"]["buckets"]
        },
    }
