"""Per-document bulk errors against the real Elasticsearch: the refused trace becomes a dead letter with
Elasticsearch's reason, the rest of its outbox group is indexed, and `metamon dead-letters`
lists and retries it."""

from sqlalchemy import func, select, update

from metamon.exporter.collectors.failures import FailuresCollector
from metamon.monitoring.db.models import IndexDeadLetter, Outbox, Project, Trace
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.outbox import TRACE_INDEX
from tests.conftest import run_metamon

# A retrieval source id beyond a keyword's 32,766-byte limit: Elasticsearch refuses the document. The
# REST ingest refuses it too (SOURCE_ID_LENGTH), so it stands for data stored before the limit existed.
IMMENSE = "kb/" + "x" * 40_000


def _ids(settings, slug: str) -> dict[str, str]:
    with session_scope(settings.database.url) as session:
        rows = session.execute(
            select(Trace.external_id, Trace.id).join(Project).where(Project.slug == slug)
        ).all()
    return {external: str(tid) for external, tid in rows}


def _search(client, headers, q: str) -> list[str]:
    response = client.get("/api/v1/search/traces", params={"q": q, "size": 100}, headers=headers)
    assert response.status_code == 200, response.text
    return sorted(item["external_id"] for item in response.json()["items"])


def _pending(settings) -> int:
    with session_scope(settings.database.url) as session:
        return session.scalar(
            select(func.count()).where(Outbox.topic == TRACE_INDEX, Outbox.processed_at.is_(None))
        )


def _cli(settings, *args: str):
    result = run_metamon(
        "dead-letters",
        *args,
        env={
            "METAMON_DATABASE_URL": settings.database.url,
            "METAMON_TRACES_INDEX_ALIAS": settings.search.traces_index_alias,
        },
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_refused_document_is_dead_lettered_and_the_rest_of_its_group_is_indexed(
    client, make_key, settings, drain
):
    headers = make_key("dead-letters")
    traces = [{"id": f"dl-{i}", "input": f"parcel question {i}"} for i in range(3)]
    assert client.post("/api/v1/traces", json={"traces": traces}, headers=headers).status_code == 200
    ids = _ids(settings, "dead-letters")
    with session_scope(settings.database.url) as session:  # one trace of the group is poisoned
        session.execute(
            update(Trace)
            .where(Trace.external_id == "dl-1", Trace.id == ids["dl-1"])
            .values(retrieved_context=[{"source_id": IMMENSE, "content": "manual"}])
        )
    drain()

    assert _search(client, headers, "parcel") == ["dl-0", "dl-2"]
    assert _pending(settings) == 0  # nothing retries in lock-step
    with session_scope(settings.database.url) as session:
        (letter,) = session.scalars(select(IndexDeadLetter).where(IndexDeadLetter.trace_id == ids["dl-1"]))
        assert letter.status == 400 and letter.failures == 1
        assert letter.reason.startswith("document_parsing_exception: ")
        assert "[context_sources]" in letter.reason and "immense term" in letter.reason
    families = {
        f.name: f for f in FailuresCollector(session_factory(settings.database.url), settings).collect()
    }
    assert {s.labels["project"]: s.value for s in families["metamon_index_dead_letters"].samples}[
        "dead-letters"
    ] == 1

    listed = _cli(settings, "list", "--project", "dead-letters")
    (line,) = listed.splitlines()
    assert line.startswith(f"{ids['dl-1']}\tdead-letters\t400\t1\t") and "[context_sources]" in line

    # Retried as it is, it is refused again and counted; fixed, it leaves the list once indexed.
    assert (
        _cli(settings, "retry", "--project", "dead-letters").strip() == "queued 1 dead letters for indexing"
    )
    drain()
    with session_scope(settings.database.url) as session:
        assert session.get(IndexDeadLetter, letter.trace_id).failures == 2
        session.execute(
            update(Trace)
            .where(Trace.id == ids["dl-1"])
            .values(retrieved_context=[{"source_id": "kb/manual", "content": "manual"}])
        )
    _cli(settings, "retry")
    drain()
    assert _search(client, headers, "parcel") == ["dl-0", "dl-1", "dl-2"]
    assert _cli(settings, "list", "--project", "dead-letters") == ""
    assert _pending(settings) == 0
