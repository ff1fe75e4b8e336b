"""Ingest limits against the real stack: timestamps in range, bounded ids and names, finite bounded
numbers. Each bad input is a 422 naming the field with nothing written, and a clean trace sent right
after is stored, scored, indexed and searchable."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from metamon.agents.evaluation.agent import evaluate
from metamon.monitoring.db.models import Outbox, Project, Span, Trace, TraceEvaluation
from metamon.monitoring.db.session import session_factory, session_scope


def trace(**kw) -> dict:
    return {
        "id": "lim-1",
        "timestamp": "2026-11-20T10:00:00Z",
        "app": "support-bot",
        "model": "gpt-4o",
        "input": "How long do refunds take?",
        "output": "Refunds take 30 days.",
        "reference": {"facts": ["30 days"]},
        "latency_seconds": 0.8,
        **kw,
    }


def span(**kw) -> dict:
    return {"span_id": "s1", "name": "retrieve", "start_time": "2026-11-20T10:00:00Z", **kw}


IN_TWO_DAYS = (datetime.now(UTC) + timedelta(days=2)).isoformat()
BAD = [
    (trace(timestamp="9999-12-31T23:30:00-05:00"), "timestamp"),
    (trace(timestamp="0001-01-01T01:00:00+14:00"), "timestamp"),
    (trace(timestamp="1969-12-31T23:59:59Z"), "timestamp"),
    (trace(timestamp=IN_TWO_DAYS), "timestamp"),
    (trace(spans=[span(start_time="9999-12-31T23:30:00-05:00")]), "spans.0.start_time"),
    (trace(spans=[span(end_time="0001-01-01T00:00:00+01:00")]), "spans.0.end_time"),
    ('{"traces": [{"latency_seconds": 1e400}]}', "latency_seconds"),
    ('{"traces": [{"cost_usd": -1e400}]}', "cost_usd"),
    ('{"traces": [{"retrieved_context": [{"content": "a", "score": 1e999}]}]}', "retrieved_context.0.score"),
    (trace(latency_seconds=86_401), "latency_seconds"),
    (trace(cost_usd=1e6), "cost_usd"),
    (trace(input_tokens=2**31), "input_tokens"),
    (trace(output_tokens=-1), "output_tokens"),
    (trace(id="x" * 201), "id"),
    (trace(app="a" * 201), "app"),
    (trace(model="m" * 201), "model"),
    (trace(session_id="s" * 201), "session_id"),
    (trace(prompt_version="v" * 101), "prompt_version"),
    (trace(domain="d" * 101), "domain"),
    (trace(error_type="E" * 201), "error_type"),
    (trace(tags=["t" * 101]), "tags.0"),
    (trace(tags=[""]), "tags.0"),
    (trace(tags=[f"t{i}" for i in range(51)]), "tags"),
    (trace(metadata={"k" * 101: 1}), "metadata"),
    (trace(metadata={f"k{i}": i for i in range(101)}), "metadata"),
    (
        trace(retrieved_context=[{"source_id": "kb/" + "x" * 40_000, "content": "a"}]),
        "retrieved_context.0.source_id",
    ),
    (trace(retrieved_context=[{"content": "a"}] * 101), "retrieved_context"),
    (trace(spans=[span(attributes={"a" * 101: "x"})]), "spans.0.attributes"),
    (trace(spans=[span(span_id="s" * 65)]), "spans.0.span_id"),
]


def rows(database_url: str) -> dict[str, int]:
    with session_scope(database_url) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Trace, Span, Outbox, TraceEvaluation)
        }


def post(client, headers, body):
    content = body if isinstance(body, str) else json.dumps({"traces": [body]})
    return client.post(
        "/api/v1/traces", content=content, headers={**headers, "Content-Type": "application/json"}
    )


def test_bad_input_is_a_422_naming_the_field_then_a_clean_trace_goes_all_the_way(
    client, make_key, settings, drain
):
    headers = make_key("limits")
    before = rows(settings.database.url)
    for body, field in BAD:
        response = post(client, headers, body)
        assert response.status_code == 422, (field, response.text)
        assert field in {p["field"] for p in response.json()["detail"]}, (field, response.json())
        assert rows(settings.database.url) == before, field  # nothing half-written

    assert post(client, headers, trace(id="clean", input="refund window question")).status_code == 200
    with session_scope(settings.database.url) as session:
        pid = session.scalar(select(Project.id).where(Project.slug == "limits"))
    assert evaluate(settings, session_factory(settings.database.url), project_id=pid).scored == 1
    drain()
    found = client.get("/api/v1/search/traces", params={"q": "refund window"}, headers=headers).json()
    assert [i["external_id"] for i in found["items"]] == ["clean"]
    assert found["items"][0]["scores"]["fact_accuracy"] == 1.0


@pytest.mark.parametrize(
    "sent,stored",
    [
        ("2026-11-20T12:00:00+02:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T10:00:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),  # no offset: UTC
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_timestamps_in_range_are_normalised_to_utc(client, make_key, settings, sent, stored):
    headers = make_key("limits-utc")
    response = post(client, headers, trace(id=f"utc-{sent}", timestamp=sent))
    assert response.status_code == 200, response.text
    with session_scope(settings.database.url) as session:
        timestamp = session.scalar(select(Trace.timestamp).where(Trace.external_id == f"utc-{sent}"))
    assert timestamp == stored and timestamp.utcoffset() == timedelta(0)
