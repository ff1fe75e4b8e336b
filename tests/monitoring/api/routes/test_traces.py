"""`POST /api/v1/traces`: idempotent batches, all-or-nothing, clear 4xx for bad input."""

import json

import pytest
from sqlalchemy import func, select

from metamon.monitoring.api.deps import current_settings
from metamon.monitoring.db.models import Outbox, Project, Span, Trace
from metamon.monitoring.db.session import session_scope


def trace(i: int, **kw) -> dict:
    return {
        "id": f"t-{i}",
        "timestamp": "2026-11-20T10:00:00Z",
        "app": "support-bot",
        "model": "gpt-4o",
        "prompt_version": "v3",
        "domain": "billing",
        "input": f"question {i}",
        "output": f"answer {i}",
        "retrieved_context": [{"source_id": "kb-1", "content": "Refunds take 30 days."}],
        "reference": {"facts": ["30 days"]},
        "latency_seconds": 0.8,
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_usd": 0.001,
        **kw,
    }


def count(database_url, model, project_slug=None) -> int:
    with session_scope(database_url) as session:
        query = select(func.count()).select_from(model)
        if project_slug and model is Trace:
            query = query.join(Project).where(Project.slug == project_slug)
        return session.scalar(query)


def test_a_batch_is_stored_with_its_spans_and_queued_for_indexing(client, make_key, database_url):
    headers = make_key("ingest-1")
    outbox_before = count(database_url, Outbox)
    body = {
        "traces": [
            trace(
                1,
                spans=[
                    {
                        "span_id": "s1",
                        "name": "retrieve",
                        "kind": "retrieval",
                        "start_time": "2026-11-20T10:00:00Z",
                    }
                ],
            ),
            trace(2),
            trace(3),
        ]
    }
    resp = client.post("/api/v1/traces", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["accepted"] == 3
    assert [t["id"] for t in result["traces"]] == ["t-1", "t-2", "t-3"]
    assert count(database_url, Trace, "ingest-1") == 3
    assert count(database_url, Outbox) == outbox_before + 1
    with session_scope(database_url) as session:
        stored = session.scalar(
            select(Trace).where(Trace.external_id == "t-1").join(Project).where(Project.slug == "ingest-1")
        )
        assert stored.reference == {"facts": ["30 days"], "expected_answer": None}
        assert session.scalar(select(func.count()).select_from(Span).where(Span.trace_id == stored.id)) == 1


def test_resending_an_id_updates_and_never_duplicates(client, make_key, database_url):
    headers = make_key("ingest-2")
    first = client.post("/api/v1/traces", json={"traces": [trace(1), trace(2)]}, headers=headers)
    again = client.post(
        "/api/v1/traces", json={"traces": [trace(1, output="corrected answer")]}, headers=headers
    )
    assert first.json()["traces"][0]["trace_id"] == again.json()["traces"][0]["trace_id"]
    # the same id twice in one batch: the later one wins, as if sent one after the other
    twice = client.post(
        "/api/v1/traces", json={"traces": [trace(2, output="x"), trace(2, output="y")]}, headers=headers
    )
    assert twice.status_code == 200
    assert count(database_url, Trace, "ingest-2") == 2
    with session_scope(database_url) as session:
        outputs = dict(
            session.execute(
                select(Trace.external_id, Trace.output).join(Project).where(Project.slug == "ingest-2")
            ).all()
        )
    assert outputs == {"t-1": "corrected answer", "t-2": "y"}


def test_traces_without_an_id_get_one(client, make_key):
    resp = client.post(
        "/api/v1/traces", json={"traces": [{"input": "hi", "output": "hello"}]}, headers=make_key("ingest-3")
    )
    assert resp.status_code == 200
    assert resp.json()["traces"][0]["id"]


def test_invalid_items_are_named_by_index_and_field_and_nothing_is_written(client, make_key, database_url):
    headers = make_key("ingest-4")
    body = {
        "traces": [trace(1), trace(2, latency_seconds=-1), trace(3), trace(4, status="exploded", bogus=1)]
    }
    resp = client.post("/api/v1/traces", json=body, headers=headers)
    assert resp.status_code == 422
    problems = {(p["item"], p["field"]) for p in resp.json()["detail"]}
    assert problems == {(1, "latency_seconds"), (3, "status"), (3, "bogus")}
    assert count(database_url, Trace, "ingest-4") == 0


@pytest.mark.parametrize(
    "payload,expected",
    [
        (b"{not json", {(None, "body")}),
        (b"[]", {(None, "body")}),
        (b'{"traces": []}', {(None, "traces")}),
        (b'{"traces": [{"timestamp": "yesterday"}]}', {(0, "timestamp")}),
    ],
)
def test_malformed_bodies_get_422(client, make_key, payload, expected):
    resp = client.post(
        "/api/v1/traces",
        content=payload,
        headers={**make_key("ingest-5"), "Content-Type": "application/json"},
    )
    assert resp.status_code == 422
    assert {(p["item"], p["field"]) for p in resp.json()["detail"]} == expected


def test_wrong_content_type_gets_415(client, make_key):
    resp = client.post(
        "/api/v1/traces",
        content=json.dumps({"traces": [trace(1)]}),
        headers={**make_key("ingest-6"), "Content-Type": "text/plain"},
    )
    assert resp.status_code == 415
    assert "application/json" in resp.json()["detail"]


def test_oversize_body_and_oversize_batch_get_413_and_nothing_is_written(
    client, make_key, settings, database_url
):
    headers = make_key("ingest-7")
    small = settings.model_copy(update={"ingest_max_body_bytes": 2000, "ingest_max_batch": 2})
    client.app.dependency_overrides[current_settings] = lambda: small
    big_body = client.post("/api/v1/traces", json={"traces": [trace(1, input="x" * 5000)]}, headers=headers)
    assert big_body.status_code == 413
    assert "2000 bytes" in big_body.json()["detail"]
    # Without a Content-Length (chunked upload) the limit holds too.
    chunked = client.post(
        "/api/v1/traces",
        content=iter([b'{"traces": [', b" " * 3000, b"]}"]),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert chunked.status_code == 413
    big_batch = client.post(
        "/api/v1/traces", json={"traces": [{"input": "a"}, {"input": "b"}, {"input": "c"}]}, headers=headers
    )
    assert big_batch.status_code == 413
    assert "batch of 3 traces exceeds the limit of 2" in big_batch.json()["detail"]
    assert count(database_url, Trace, "ingest-7") == 0


def test_ingest_needs_a_key_with_the_ingest_scope(client, make_key):
    assert client.post("/api/v1/traces", json={"traces": [trace(1)]}).status_code == 401
    read_only = make_key("ingest-8", ("read",))
    resp = client.post("/api/v1/traces", json={"traces": [trace(1)]}, headers=read_only)
    assert resp.status_code == 403
    assert "ingest" in resp.json()["detail"]


def test_text_postgresql_cannot_store_gets_422_and_nothing_is_written(client, make_key, database_url):
    resp = client.post(
        "/api/v1/traces",
        json={"traces": [trace(1), trace(2, output="nul \x00 byte")]},
        headers=make_key("ingest-9"),
    )
    assert resp.status_code == 422
    assert "NUL" in resp.json()["detail"]
    assert count(database_url, Trace, "ingest-9") == 0


def test_one_trace_by_id_is_its_full_document_and_only_for_its_project(client, make_key, database_url):
    headers = make_key("traces-by-id", scopes=("ingest", "read"))
    span = {"span_id": "s1", "name": "retrieve", "kind": "retrieval", "start_time": "2026-11-20T10:00:00Z"}
    body = {"traces": [trace(1, spans=[span])]}
    assert client.post("/api/v1/traces", json=body, headers=headers).status_code == 200
    with session_scope(database_url) as session:
        trace_id = session.scalar(
            select(Trace.id).join(Project).where(Project.slug == "traces-by-id", Trace.external_id == "t-1")
        )
    found = client.get(f"/api/v1/traces/{trace_id}", headers=headers)
    assert found.status_code == 200, found.text
    document = found.json()
    assert document["trace_id"] == str(trace_id) and document["external_id"] == "t-1"
    assert document["input"] == "question 1" and document["context_sources"] == ["kb-1"]
    assert [s["name"] for s in document["spans"]] == ["retrieve"] and document["labels"] == []
    assert "indexed_at" not in document
    stranger = make_key("traces-by-id-other", scopes=("read",))
    assert client.get(f"/api/v1/traces/{trace_id}", headers=stranger).status_code == 404
    assert (
        client.get("/api/v1/traces/00000000-0000-0000-0000-000000000000", headers=headers).status_code == 404
    )
    ingest_only = make_key("traces-by-id", scopes=("ingest",))
    assert client.get(f"/api/v1/traces/{trace_id}", headers=ingest_only).status_code == 403
