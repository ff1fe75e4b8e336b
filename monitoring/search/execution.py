"""Running the searches of queries.py on the traces alias: relevance-sorted searches page through a point in
time, result pages carry the cursor of the next one, and Elasticsearch's failures are this module's
exceptions (the API turns them into 503 and 422)."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from elastic_transport import ConnectionError as EsConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import BadRequestError, Elasticsearch, NotFoundError

from metamon.monitoring.search.client import get_es
from metamon.monitoring.search.indices import ensure_indices
from metamon.monitoring.search.queries import (
    Cursor,
    EvaluationFilter,
    InvalidQuery,
    TraceFilters,
    aggregations_body,
    decode_cursor,
    encode_cursor,
    search_evaluations_body,
    search_traces_body,
)
from metamon.monitoring.settings import Settings

# How long a relevance-sorted search's point in time lives between two pages.
PIT_KEEP_ALIVE = "2m"
# Elasticsearch did not answer within the client's request timeout: when to try again.
RETRY_AFTER_SECONDS = 5


class SearchUnavailable(Exception):
    """Elasticsearch did not answer."""


class SearchRefused(InvalidQuery):
    """Elasticsearch refused the query, or the cursor's point in time has expired."""


@dataclass(frozen=True)
class Hits:
    total: int
    total_relation: str  # "gte" when more than search_exact_total_up_to match: total is a lower bound
    items: list[dict[str, Any]]
    next_cursor: str | None


def _answered(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (EsConnectionError, ConnectionTimeout):
        raise SearchUnavailable("search is unavailable: Elasticsearch did not answer") from None
    except BadRequestError as exc:
        raise SearchRefused(f"Elasticsearch refused the query: {exc.message}") from None


def _on_indices(settings: Settings, call: Callable[[Elasticsearch], Any]) -> Any:
    """`call(es)`; when the alias does not exist yet (nothing indexed), create it empty and call again."""
    es = get_es(settings.search.url)
    try:
        return call(es)
    except NotFoundError:
        ensure_indices(es, settings)
        return call(es)


def _run(settings: Settings, body: dict) -> dict:
    def search() -> dict:
        if "pit" not in body:
            return _on_indices(
                settings, lambda es: es.search(index=settings.search.traces_index_alias, **body).body
            )
        try:  # a point in time names its indices itself; gone, it is a 404
            return get_es(settings.search.url).search(**body).body
        except NotFoundError:
            raise SearchRefused(
                f"the cursor has expired (pages of a relevance search live {PIT_KEEP_ALIVE}): "
                "start again from the first page"
            ) from None

    return _answered(search)


def _open_pit(settings: Settings) -> str:
    def open_pit(es: Elasticsearch) -> str:
        return es.open_point_in_time(index=settings.search.traces_index_alias, keep_alive=PIT_KEEP_ALIVE)[
            "id"
        ]

    return _answered(lambda: _on_indices(settings, open_pit))


def _hits(settings: Settings, result: dict, size: int, item: Callable[[dict], dict]) -> Hits:
    hits = result["hits"]["hits"]
    pit = result.get("pit_id")
    more = len(hits) == size
    if pit and not more:  # the last page: its point in time can go now
        get_es(settings.search.url).options(ignore_status=404).close_point_in_time(id=pit)
    total = result["hits"]["total"]
    return Hits(
        total=total["value"],
        total_relation=total["relation"],
        items=[item(h) for h in hits],
        next_cursor=encode_cursor(Cursor(hits[-1]["sort"], pit)) if more else None,
    )


def search_traces(
    settings: Settings,
    project_id: uuid.UUID,
    q: str | None,
    filters: TraceFilters,
    sort: str | None,
    order: str,
    size: int,
    cursor: str | None,
) -> Hits:
    """A page of traces, sorted by relevance when there is text to match and no other sort is asked for."""
    sort = sort or ("relevance" if q else "timestamp")
    after = decode_cursor(cursor) if cursor else None
    body = search_traces_body(
        project_id, q, filters, sort, order, size, after, settings.search.exact_total_up_to
    )
    if sort == "relevance":
        pit = after.pit if after and after.pit else _open_pit(settings)
        body["pit"] = {"id": pit, "keep_alive": PIT_KEEP_ALIVE}
    result = _run(settings, body)
    return _hits(
        settings,
        result,
        size,
        lambda h: {**h["_source"], "score": h.get("_score"), "highlights": h.get("highlight", {})},
    )


def search_evaluations(
    settings: Settings,
    project_id: uuid.UUID,
    filters: TraceFilters,
    evaluations: EvaluationFilter,
    size: int,
    cursor: str | None,
) -> Hits:
    """A page of traces whose evaluator scores match, each with the matching evaluations."""
    body = search_evaluations_body(
        project_id,
        filters,
        evaluations,
        size,
        decode_cursor(cursor) if cursor else None,
        settings.search.exact_total_up_to,
    )

    def item(hit: dict) -> dict:
        inner = hit["inner_hits"]["evaluations"]["hits"]["hits"]
        return {**hit["_source"], "evaluations": [e["_source"] for e in inner]}

    return _hits(settings, _run(settings, body), size, item)


def aggregate(
    settings: Settings, project_id: uuid.UUID, q: str | None, filters: TraceFilters, interval: str
) -> dict:
    """Elasticsearch's aggregations reshaped: counts per field value, traces over time, latency
    percentiles, total cost, and per evaluator its count, average score and failures."""
    result = _run(settings, aggregations_body(project_id, q, filters, interval))
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
