"""Elasticsearch request bodies for the search API. Every query is confined to one project by a
`term` filter, and user text only ever reaches `simple_query_string`, which never parses query DSL."""

import base64
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

TEXT_FIELDS = [
    "input^2",
    "output^2",
    "context_text",
    "reference_text",
    "spans.input",
    "spans.output",
    "error_message",
]
HIGHLIGHT_FIELDS = ("input", "output", "context_text", "spans.input", "spans.output")
# Highlighting analyses the first this many characters of a field: a longer one (a million-character
# input) still matches and is returned, with highlights from its start, instead of failing the search
# on the index's own limit (index.highlight.max_analyzed_offset, 1,000,000 by default).
HIGHLIGHT_MAX_ANALYZED_OFFSET = 100_000
SUMMARY_FIELDS = [
    "trace_id",
    "external_id",
    "timestamp",
    "app",
    "model",
    "prompt_version",
    "domain",
    "status",
    "error_type",
    "session_id",
    "user_id",
    "input",
    "output",
    "latency_seconds",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "tags",
    "scores",
    "labels",
    "span_count",
]
SORTS = {"relevance": "_score", "timestamp": "timestamp", "latency": "latency_seconds", "cost": "cost_usd"}
EVALUATOR_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# simple_query_string operators allowed: AND/OR/NOT, phrases, prefix and precedence; no fuzzy, slop or
# regex-like syntax, whose cost a caller could otherwise drive up.
QUERY_FLAGS = "AND|OR|NOT|PHRASE|PREFIX|PRECEDENCE|ESCAPE|WHITESPACE"


class InvalidQuery(ValueError):
    """A search parameter that cannot be turned into a query (answered with 422)."""


@dataclass(frozen=True)
class ScoreRange:
    evaluator: str
    min: float | None
    max: float | None

    @classmethod
    def parse(cls, text: str) -> "ScoreRange":
        """`fact_accuracy:0.5:0.9`, `fact_accuracy::0.6` or `fact_accuracy:0.8:`"""
        parts = text.split(":")
        if len(parts) != 3 or not EVALUATOR_NAME.match(parts[0]):
            raise InvalidQuery(
                f"score filter {text!r} must look like evaluator:min:max (either bound may be empty)"
            )
        try:
            low, high = (float(p) if p else None for p in parts[1:])
        except ValueError:
            raise InvalidQuery(f"score filter {text!r} has a bound that is not a number") from None
        return cls(parts[0], low, high)


@dataclass(frozen=True)
class TraceFilters:
    app: list[str] = field(default_factory=list)
    model: list[str] = field(default_factory=list)
    domain: list[str] = field(default_factory=list)
    prompt_version: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)
    label: list[str] = field(default_factory=list)
    tag: list[str] = field(default_factory=list)
    scores: list[ScoreRange] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None


def filter_clauses(project_id: uuid.UUID, filters: TraceFilters) -> list[dict]:
    clauses: list[dict] = [{"term": {"project_id": str(project_id)}}]
    for name in ("app", "model", "domain", "prompt_version", "status"):
        if values := getattr(filters, name):
            clauses.append({"terms": {name: values}})
    if filters.label:
        clauses.append({"terms": {"labels": filters.label}})
    if filters.tag:
        clauses.append({"terms": {"tags": filters.tag}})
    for score in filters.scores:
        bounds = {k: v for k, v in (("gte", score.min), ("lte", score.max)) if v is not None}
        clauses.append(
            {"range": {f"scores.{score.evaluator}": bounds}}
            if bounds
            else {"exists": {"field": f"scores.{score.evaluator}"}}
        )
    if filters.start or filters.end:
        bounds = {k: v.isoformat() for k, v in (("gte", filters.start), ("lt", filters.end)) if v is not None}
        clauses.append({"range": {"timestamp": bounds}})
    return clauses


def text_query(q: str, fields: list[str] = TEXT_FIELDS) -> dict:
    return {
        "simple_query_string": {
            "query": q,
            "fields": fields,
            "default_operator": "and",
            "flags": QUERY_FLAGS,
            "lenient": True,
        }
    }


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the last hit's sort values, and the point in time a relevance-sorted
    search pages through (scores shift as segments merge, so paging the live index by score could repeat
    or skip hits)."""

    after: list
    pit: str | None = None


def encode_cursor(cursor: Cursor) -> str:
    payload = {"after": cursor.after, **({"pit": cursor.pit} if cursor.pit else {})}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


# Elasticsearch's sort value for a missing float (latency, cost) sorted last.
_INFINITIES = ("Infinity", "-Infinity")


def _sort_value(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) or value in _INFINITIES


def decode_cursor(cursor: str) -> Cursor:
    """The cursor `encode_cursor` wrote, or InvalidQuery: its sort values are checked for the shape this
    API's sorts produce, since Elasticsearch answers some others (`[null, null]`) with a server error."""
    invalid = InvalidQuery("cursor is not one this API returned")
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise invalid from None
    after = payload.get("after") if isinstance(payload, dict) else None
    pit = payload.get("pit") if isinstance(payload, dict) else None
    if not isinstance(after, list) or not isinstance(pit, str | None):
        raise invalid
    # The sort field's value and the trace id; a point in time adds a third, its _shard_doc.
    if len(after) != (3 if pit else 2) or not _sort_value(after[0]) or not isinstance(after[1], str):
        raise invalid
    if pit and not (isinstance(after[2], int) and not isinstance(after[2], bool)):
        raise invalid
    try:
        uuid.UUID(after[1])
    except ValueError:
        raise invalid from None
    return Cursor(after, pit)


def search_traces_body(
    project_id: uuid.UUID,
    q: str | None,
    filters: TraceFilters,
    sort: str,
    order: str,
    size: int,
    cursor: Cursor | None,
    track_total: int | bool = True,
) -> dict:
    if sort not in SORTS:
        raise InvalidQuery(f"sort must be one of {', '.join(SORTS)}")
    sort_field = SORTS[sort]
    body: dict = {
        "query": {
            "bool": {
                "filter": filter_clauses(project_id, filters),
                **({"must": [text_query(q)]} if q else {}),
            }
        },
        # the trace id breaks ties, so search_after pages never skip or repeat a trace
        "sort": [
            {sort_field: {"order": order, **({} if sort_field == "_score" else {"missing": "_last"})}},
            {"trace_id": "asc"},
        ],
        "size": size,
        "track_total_hits": track_total,
        "_source": SUMMARY_FIELDS,
    }
    if q:
        body["highlight"] = {
            "encoder": "html",
            "pre_tags": ["<mark>"],
            "post_tags": ["</mark>"],
            "fragment_size": 150,
            "number_of_fragments": 3,
            "max_analyzed_offset": HIGHLIGHT_MAX_ANALYZED_OFFSET,
            "fields": {name: {} for name in HIGHLIGHT_FIELDS},
        }
    if cursor:
        body["search_after"] = cursor.after
    return body


@dataclass(frozen=True)
class EvaluationFilter:
    """Which evaluations of a trace match: by evaluator, verdict, score and free text in the reason."""

    evaluator: str | None = None
    passed: bool | None = None
    score_min: float | None = None
    score_max: float | None = None
    q: str | None = None


def search_evaluations_body(
    project_id: uuid.UUID,
    filters: TraceFilters,
    evaluations: EvaluationFilter,
    size: int,
    cursor: Cursor | None,
    track_total: int | bool = True,
) -> dict:
    e = evaluations
    if e.evaluator and not EVALUATOR_NAME.match(e.evaluator):
        raise InvalidQuery(f"evaluator {e.evaluator!r} is not a valid evaluator name")
    nested: list[dict] = []
    if e.evaluator:
        nested.append({"term": {"evaluations.evaluator": e.evaluator}})
    if e.passed is not None:
        nested.append({"term": {"evaluations.passed": e.passed}})
    bounds = {k: v for k, v in (("gte", e.score_min), ("lte", e.score_max)) if v is not None}
    if bounds:
        nested.append({"range": {"evaluations.score": bounds}})
    text = {"must": [text_query(e.q, ["evaluations.reason"])]} if e.q else {}
    inner = {"bool": {"filter": nested, **text}}
    body: dict = {
        "query": {
            "bool": {
                "filter": [
                    *filter_clauses(project_id, filters),
                    {
                        "nested": {
                            "path": "evaluations",
                            "query": inner,
                            "inner_hits": {"size": 20, "_source": True},
                        }
                    },
                ]
            }
        },
        "sort": [{"timestamp": "desc"}, {"trace_id": "asc"}],
        "size": size,
        "track_total_hits": track_total,
        "_source": SUMMARY_FIELDS,
    }
    if cursor:
        body["search_after"] = cursor.after
    return body


def aggregations_body(project_id: uuid.UUID, q: str | None, filters: TraceFilters, interval: str) -> dict:
    return {
        "size": 0,
        "track_total_hits": True,
        "query": {
            "bool": {
                "filter": filter_clauses(project_id, filters),
                **({"must": [text_query(q)]} if q else {}),
            }
        },
        "aggs": {
            **{
                f"by_{name}": {"terms": {"field": field_name, "size": 50}}
                for name, field_name in (
                    ("app", "app"),
                    ("domain", "domain"),
                    ("model", "model"),
                    ("status", "status"),
                    ("label", "labels"),
                    ("prompt_version", "prompt_version"),
                )
            },
            "over_time": {
                "date_histogram": {"field": "timestamp", "calendar_interval": interval, "min_doc_count": 1}
            },
            "latency_seconds": {"percentiles": {"field": "latency_seconds", "percents": [50, 95, 99]}},
            "cost_usd": {"sum": {"field": "cost_usd"}},
            "evaluators": {
                "nested": {"path": "evaluations"},
                "aggs": {
                    "by_evaluator": {
                        "terms": {"field": "evaluations.evaluator", "size": 50},
                        "aggs": {
                            "avg_score": {"avg": {"field": "evaluations.score"}},
                            "failed": {"filter": {"term": {"evaluations.passed": False}}},
                        },
                    }
                },
            },
        },
    }
