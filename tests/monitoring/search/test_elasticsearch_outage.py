"""Elasticsearch stops in the middle of ingest: ingest goes on, health says degraded with the backlog,
and once Elasticsearch is back every stored trace is indexed exactly once."""

import time

import pytest
from sqlalchemy import select

from metamon.monitoring.db.models import Project, Trace
from metamon.monitoring.db.session import session_scope
from tests.conftest import run_metamon


def batch(start: int, n: int) -> dict:
    return {
        "traces": [
            {"id": f"o-{i}", "input": f"question {i}", "output": f"answer {i}"}
            for i in range(start, start + n)
        ]
    }


def es_ids(es, settings, project_id) -> list[str]:
    es.indices.refresh(index=settings.search.traces_index_alias)
    resp = es.search(
        index=settings.search.traces_index_alias,
        size=10_000,
        _source=["trace_id"],
        query={"term": {"project_id": str(project_id)}},
    )
    return [hit["_id"] for hit in resp["hits"]["hits"]]


@pytest.mark.disruptive
def test_an_outage_loses_nothing_and_indexes_each_trace_once(
    client, make_key, es, settings, drain, database_url
):
    headers = make_key("outage")
    assert client.post("/api/v1/traces", json=batch(0, 50), headers=headers).status_code == 200
    drain()

    assert run_metamon("stack", "down", "elasticsearch").returncode == 0
    try:
        for start in (50, 100, 150):  # ingest goes on while search is down
            assert client.post("/api/v1/traces", json=batch(start, 50), headers=headers).status_code == 200
        # re-sent traces during the outage must not become duplicates later
        assert client.post("/api/v1/traces", json=batch(0, 10), headers=headers).status_code == 200
        assert drain() == 0  # the indexer fails, and keeps its rows

        health = client.get("/api/v1/health", headers=headers).json()
        assert health["status"] == "degraded"
        assert health["dependencies"]["elasticsearch"]["status"] == "down"
        assert "ConnectError" in health["dependencies"]["elasticsearch"]["detail"]
        assert health["index_backlog"]["traces"] >= 160
        # Everything else keeps answering; search says plainly that it cannot.
        assert client.get("/api/v1/projects/current", headers=headers).status_code == 200
        search = client.get("/api/v1/search/traces", headers=headers)
        assert search.status_code == 503
        assert "Elasticsearch" in search.json()["detail"]
    finally:
        started = run_metamon("stack", "up", "elasticsearch")
        assert started.returncode == 0, started.stdout + started.stderr

    deadline = time.monotonic() + 60
    while (
        client.get("/api/v1/health", headers=headers).json()["index_backlog"]["traces"]
        and time.monotonic() < deadline
    ):
        drain()  # rows come back once their back-off has passed
        time.sleep(0.5)
    assert client.get("/api/v1/health", headers=headers).json()["status"] == "ok"

    with session_scope(database_url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == "outage"))
        stored = {str(t) for t in session.scalars(select(Trace.id).where(Trace.project_id == project_id))}
    indexed = es_ids(es, settings, project_id)
    assert len(stored) == 200
    assert len(indexed) == len(set(indexed)) == 200
    assert set(indexed) == stored
