"""`metamon reindex` rebuilds the index from PostgreSQL: every stored trace, nothing stale."""

from elasticsearch.helpers import scan

from tests.conftest import run_metamon


def test_reindex_rebuilds_exactly_what_postgresql_holds(client, make_key, es, settings, drain):
    headers = make_key("reindex")
    traces = [{"id": f"r-{i}", "input": f"question {i}"} for i in range(30)]
    assert client.post("/api/v1/traces", json={"traces": traces}, headers=headers).status_code == 200
    drain()
    # a stray document that PostgreSQL does not know: a rebuild must drop it
    es.index(
        index=f"{settings.search.traces_index_alias}-2001.01", id="stray", document={"trace_id": "stray"}
    )

    result = run_metamon(
        "reindex",
        env={
            "METAMON_DATABASE_URL": settings.database.url,
            "METAMON_TRACES_INDEX_ALIAS": settings.search.traces_index_alias,
        },
    )
    assert result.returncode == 0, result.stderr
    assert "reindexing traces" in result.stdout  # the progress bar

    from metamon.monitoring.db.models import Trace
    from metamon.monitoring.db.session import session_scope

    with session_scope(settings.database.url) as session:
        stored = {str(t) for t in session.scalars(Trace.__table__.select().with_only_columns(Trace.id))}
    es.indices.refresh(index=settings.search.traces_index_alias)
    # Every id, however many earlier tests stored: one search page stops at 10,000 hits.
    hits = scan(es, index=settings.search.traces_index_alias, query={"_source": False})
    assert {h["_id"] for h in hits} == stored
