"""Search over the real Elasticsearch: relevance, filters, paging, hostile input, project isolation."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from metamon.monitoring.db.models import Project, Trace, TraceEvaluation
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.outbox import enqueue_trace_index
from metamon.monitoring.search.queries import Cursor, decode_cursor, encode_cursor

T0 = datetime(2026, 11, 1, tzinfo=UTC)
KNOWN = {
    "k-diabetes": {
        "input": "What insulin dosage is safe for type 2 diabetes?",
        "output": "Dosage depends on weight; consult the prescribing physician.",
        "domain": "healthcare",
        "model": "gpt-4o",
    },
    "k-refund": {
        "input": "How do I get a refund for my order?",
        "output": "Refunds are paid within 30 days of the return.",
        "domain": "billing",
        "model": "claude-3",
    },
    "k-refund-context": {
        "input": "Where is my parcel?",
        "output": "It ships tomorrow.",
        "domain": "shipping",
        "retrieved_context": [{"source_id": "kb-9", "content": "Refund requests go to billing."}],
        "model": "claude-3",
    },
    "k-error": {
        "input": "Summarise the contract",
        "output": "",
        "status": "error",
        "error_type": "Timeout",
        "error_message": "upstream model timed out",
        "domain": "legal",
        "model": "gpt-4o",
    },
    "k-html": {
        "input": "Render <script>alert(1)</script> safely",
        "output": "Escaped markup.",
        "domain": "security",
        "model": "gpt-4o",
    },
}


def corpus() -> list[dict]:
    traces = [
        {"id": key, "app": "helpdesk", "timestamp": (T0 + timedelta(minutes=i)).isoformat(), **fields}
        for i, (key, fields) in enumerate(KNOWN.items())
    ]
    for i in range(55):  # filler, spread over two apps and two prompt versions
        traces.append(
            {
                "id": f"f-{i:02d}",
                "app": "helpdesk" if i % 2 else "assistant",
                "prompt_version": f"v{i % 3}",
                "domain": "general",
                "model": "gpt-4o-mini",
                "timestamp": (T0 + timedelta(hours=1, minutes=i)).isoformat(),
                "input": f"general question number {i}",
                "output": f"general answer {i}",
                "latency_seconds": i / 10,
                "tags": ["filler"],
            }
        )
    return traces


@pytest.fixture(scope="module")
def indexed(client_module, key_module, database_url, drain_module):
    """Project 'search-a' with the corpus (and fact_accuracy scores), project 'search-b' with one secret."""
    headers_a, headers_b = key_module("search-a"), key_module("search-b")
    assert (
        client_module.post("/api/v1/traces", json={"traces": corpus()}, headers=headers_a).status_code == 200
    )
    secret = {"id": "b-secret", "input": "refund insulin general question", "output": "project B secret"}
    assert (
        client_module.post("/api/v1/traces", json={"traces": [secret]}, headers=headers_b).status_code == 200
    )
    with session_scope(database_url) as session:
        project = session.scalar(select(Project).where(Project.slug == "search-a"))
        traces = session.scalars(select(Trace).where(Trace.project_id == project.id)).all()
        for t in traces:
            score = 0.2 if t.external_id.startswith("k-") else 0.9
            session.add(
                TraceEvaluation(
                    trace_id=t.id,
                    project_id=project.id,
                    evaluator="fact_accuracy",
                    kind="code",
                    score=score,
                    passed=score >= 0.5,
                    reason="missing fact: 30 days" if score < 0.5 else "all facts present",
                )
            )
        enqueue_trace_index(session, project.id, [t.id for t in traces])
    drain_module()
    return headers_a, headers_b


def search(client, headers, **params):
    resp = client.get("/api/v1/search/traces", params=params, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def ids(page) -> list[str]:
    return [item["external_id"] for item in page["items"]]


def test_relevance_ranks_the_known_document_first_and_highlights_it(client_module, indexed):
    headers, _ = indexed
    page = search(client_module, headers, q="insulin dosage")
    assert ids(page)[0] == "k-diabetes" and page["total"] == 1
    assert "<mark>insulin</mark>" in " ".join(page["items"][0]["highlights"]["input"])
    # a match in the question outranks a match only in the retrieved context
    assert ids(search(client_module, headers, q="refund")) == ["k-refund", "k-refund-context"]
    assert ids(search(client_module, headers, q="timed out")) == ["k-error"]


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"domain": "billing"}, {"k-refund"}),
        ({"model": "claude-3"}, {"k-refund", "k-refund-context"}),
        ({"status": "error"}, {"k-error"}),
        ({"app": "helpdesk", "q": "refund"}, {"k-refund", "k-refund-context"}),
        ({"score": "fact_accuracy::0.5"}, set(KNOWN)),
        (
            {"score": "fact_accuracy:0.5:", "prompt_version": "v0", "app": "assistant"},
            {f"f-{i:02d}" for i in range(0, 55, 6)},
        ),
        ({"start": "2026-11-01T00:02:00Z", "end": "2026-11-01T00:04:00Z"}, {"k-refund-context", "k-error"}),
        ({"tag": "filler", "q": "number 7"}, {"f-07"}),
    ],
)
def test_filters(client_module, indexed, params, expected):
    headers, _ = indexed
    page = search(client_module, headers, size=100, **params)
    assert set(ids(page)) == expected
    assert page["total"] == len(expected)


@pytest.mark.parametrize("sort,q", [("timestamp", None), ("latency", None), ("relevance", "general")])
def test_search_after_paging_has_no_duplicates_or_gaps(client_module, indexed, sort, q):
    headers, _ = indexed
    params = {"size": 7, "sort": sort, **({"q": q} if q else {})}
    everything = search(client_module, headers, size=100, **{k: v for k, v in params.items() if k != "size"})
    seen, cursor = [], None
    while True:
        page = search(client_module, headers, **params, **({"cursor": cursor} if cursor else {}))
        seen += ids(page)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == everything["total"]
    assert seen == ids(everything)


def test_a_relevance_cursor_whose_point_in_time_is_gone_is_a_clear_4xx(client_module, indexed, es):
    headers, _ = indexed
    page = search(client_module, headers, q="general", size=3)
    cursor = decode_cursor(page["next_cursor"])
    assert cursor.pit  # relevance pages go through a point in time
    es.close_point_in_time(id=cursor.pit)

    expired = client_module.get(
        "/api/v1/search/traces",
        params={"q": "general", "size": 3, "cursor": page["next_cursor"]},
        headers=headers,
    )
    assert expired.status_code == 422 and "expired" in expired.json()["detail"]
    forged = encode_cursor(Cursor(cursor.after, "bm90IGEgcGl0"))
    bad = client_module.get(
        "/api/v1/search/traces", params={"q": "general", "cursor": forged}, headers=headers
    )
    assert bad.status_code == 422
    # A time-sorted search pages the live index: no point in time to keep alive.
    assert decode_cursor(search(client_module, headers, size=3)["next_cursor"]).pit is None


@pytest.mark.parametrize(
    "hostile",
    [
        '{"query": {"match_all": {}}}',
        "*",
        "project_id:*",
        'b-secret OR "project B"',
        '" OR 1=1 --',
        "((((",
        "\\",
        "refund~2",
        "/.*/",
        "a" * 1000,
        "<script>alert(1)</script>",
    ],
)
def test_query_syntax_injection_never_errors_or_leaks(client_module, indexed, hostile):
    headers, _ = indexed
    page = search(client_module, headers, q=hostile, size=100)
    assert "b-secret" not in ids(page)
    assert all("project B secret" not in (item.get("output") or "") for item in page["items"])


def test_highlights_escape_html_from_traces(client_module, indexed):
    headers, _ = indexed
    page = search(client_module, headers, q="script alert")
    fragment = " ".join(page["items"][0]["highlights"]["input"])
    assert "&lt;" in fragment and "<script>" not in fragment


def test_a_hostile_key_sees_only_its_own_project(client_module, indexed):
    headers_a, headers_b = indexed
    mine = search(client_module, headers_b, size=100)
    assert ids(mine) == ["b-secret"]
    # a cursor taken from project A's results does not open project A
    cursor = search(client_module, headers_a, size=2)["next_cursor"]
    assert ids(search(client_module, headers_b, size=100, cursor=cursor)) in ([], ["b-secret"])
    for q in ("insulin", "refund", "general question"):
        assert set(ids(search(client_module, headers_b, q=q, size=100))) <= {"b-secret"}
    aggs = client_module.get("/api/v1/search/aggregations", headers=headers_b).json()
    assert aggs["total"] == 1


def test_evaluation_search_returns_matching_evaluations(client_module, indexed):
    headers, _ = indexed
    resp = client_module.get(
        "/api/v1/search/evaluations",
        headers=headers,
        params={"evaluator": "fact_accuracy", "passed": "false", "q": "30 days", "size": 100},
    )
    assert resp.status_code == 200
    page = resp.json()
    assert set(ids(page)) == set(KNOWN)
    assert all(
        e["evaluator"] == "fact_accuracy" and e["passed"] is False
        for i in page["items"]
        for e in i["evaluations"]
    )


def test_aggregations(client_module, indexed):
    headers, _ = indexed
    resp = client_module.get("/api/v1/search/aggregations", headers=headers, params={"interval": "hour"})
    assert resp.status_code == 200
    aggs = resp.json()
    assert aggs["total"] == 60
    assert aggs["domain"]["general"] == 55 and aggs["domain"]["billing"] == 1
    assert aggs["status"] == {"ok": 59, "error": 1}
    assert sum(b["count"] for b in aggs["over_time"]) == 60
    assert aggs["latency_seconds"]["p50"] == pytest.approx(2.7, abs=0.3)
    assert aggs["evaluators"]["fact_accuracy"]["failed"] == 5
    assert aggs["evaluators"]["fact_accuracy"]["avg_score"] == pytest.approx(
        (5 * 0.2 + 55 * 0.9) / 60, abs=1e-3
    )


@pytest.mark.parametrize(
    "params",
    [
        {"size": 500},
        {"score": "fact_accuracy:x:1"},
        {"score": "Robert'); DROP TABLE"},
        {"cursor": "garbage"},
        {"sort": "bogus"},
        {"status": "exploded"},
        {"start": "yesterday"},
    ],
)
def test_bad_parameters_get_422(client_module, indexed, params):
    headers, _ = indexed
    resp = client_module.get("/api/v1/search/traces", params=params, headers=headers)
    assert resp.status_code == 422
    assert resp.json()["detail"]


def test_search_needs_the_read_scope(client_module, key_module):
    assert client_module.get("/api/v1/search/traces").status_code == 401
    ingest_only = key_module("search-c", ("ingest",))
    assert client_module.get("/api/v1/search/traces", headers=ingest_only).status_code == 403


def test_totals_beyond_the_exact_limit_are_a_lower_bound(client_module, indexed, settings):
    from metamon.monitoring.api.deps import current_settings

    headers, _ = indexed
    client_module.app.dependency_overrides[current_settings] = lambda: settings.model_copy(
        update={"search_exact_total_up_to": 10}
    )
    try:
        page = search(client_module, headers, q="general")
    finally:
        client_module.app.dependency_overrides[current_settings] = lambda: settings
    assert (page["total"], page["total_relation"]) == (10, "gte")
    assert search(client_module, headers, q="general")["total_relation"] == "eq"
