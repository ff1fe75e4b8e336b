"""How an indexer pass divides its work, against the real PostgreSQL and Elasticsearch: a claim stops at
a number of traces so several indexers share a backlog, and when Elasticsearch drops out between two
bulk requests of a pass, what was indexed stays done and only the rest is queued again."""

import http.server
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from elastic_transport import OrjsonSerializer
from elasticsearch import Elasticsearch
from sqlalchemy import select

from metamon.monitoring.db.models import Outbox, Project, Trace
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.outbox import TRACE_INDEX, claim_traces, enqueue_trace_index
from metamon.monitoring.search import indexer


def test_a_claim_stops_at_its_trace_budget_and_a_second_indexer_takes_the_next_rows(
    database_url, make_key, drain
):
    make_key("claims")
    drain()  # other tests' pending rows out of the way
    with session_scope(database_url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == "claims"))
        for _ in range(4):
            enqueue_trace_index(session, project_id, [uuid.uuid4() for _ in range(3)])
    sessions = session_factory(database_url)
    with sessions() as first, first.begin(), sessions() as second, second.begin():
        mine = claim_traces(first, max_rows=20, max_traces=5)
        assert [len(r.payload["trace_ids"]) for r in mine] == [3, 3]  # 3 < 5, then 6 >= 5: two rows
        theirs = claim_traces(second, max_rows=20, max_traces=1)
        assert len(theirs) == 1  # a row over the budget is still claimed, whole
        with sessions() as third, third.begin():
            last = claim_traces(third, max_rows=20, max_traces=5)
            assert len(last) == 1 and last[0].id > max(r.id for r in mine + theirs)
            third.rollback()
        first.rollback()
        second.rollback()
    drain()


class _DroppingProxy(http.server.ThreadingHTTPServer):
    """Forwards to the real Elasticsearch; after `bulks_allowed` bulk requests it closes the connection
    of the next ones unanswered, as an Elasticsearch node going down does."""

    def __init__(self, upstream: str, bulks_allowed: int):
        self.upstream, self.bulks_allowed, self.bulks = upstream, bulks_allowed, 0
        super().__init__(("127.0.0.1", 0), _Forward)


class _Forward(http.server.BaseHTTPRequestHandler):
    server: _DroppingProxy

    def log_message(self, *args) -> None:  # quiet
        pass

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "_bulk" in self.path:
            self.server.bulks += 1
            if self.server.bulks > self.server.bulks_allowed:
                self.close_connection = True
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        reply = httpx.request(self.command, self.server.upstream + self.path, content=body, headers=headers)
        self.send_response(reply.status_code)
        for key, value in reply.headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.content)))
        self.end_headers()
        self.wfile.write(reply.content)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward


@pytest.fixture
def dropping_es(settings) -> Iterator[Elasticsearch]:
    proxy = _DroppingProxy(settings.search.url.rstrip("/"), bulks_allowed=1)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield Elasticsearch(
        f"http://127.0.0.1:{proxy.server_address[1]}",
        request_timeout=10,
        max_retries=0,
        serializer=OrjsonSerializer(),
    )
    proxy.shutdown()
    proxy.server_close()


def test_elasticsearch_dropping_out_mid_pass_requeues_only_the_unindexed_traces(
    client, make_key, settings, es, drain, dropping_es, database_url
):
    headers = make_key("mid-pass")
    drain()
    traces = [{"id": f"mp-{i}", "input": f"warehouse question {i}"} for i in range(6)]
    assert client.post("/api/v1/traces", json={"traces": traces}, headers=headers).status_code == 200
    small = settings.model_copy(update={"indexer_bulk_documents": 2, "indexer_max_backoff_seconds": 0.5})

    result = indexer.drain_once(small, dropping_es, session_factory(database_url))
    assert result.failed and result.documents == 2  # the first request of three went through

    with session_scope(database_url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == "mid-pass"))
        ids = set(session.scalars(select(Trace.id).where(Trace.project_id == project_id)))
        pending = session.scalars(
            select(Outbox).where(Outbox.topic == TRACE_INDEX, Outbox.processed_at.is_(None))
        ).all()
        (retry,) = pending  # the claimed row is done; one new row holds what was not indexed
        assert retry.attempts == 1 and "ConnectionError" in retry.last_error
        requeued = {uuid.UUID(t) for t in retry.payload["trace_ids"]}
    es.indices.refresh(index=settings.search.traces_index_alias)
    found = es.search(
        index=settings.search.traces_index_alias, query={"term": {"project_id": str(project_id)}}, size=10
    )["hits"]["hits"]
    indexed = {uuid.UUID(hit["_id"]) for hit in found}
    assert len(indexed) == 2 and len(requeued) == 4
    assert indexed | requeued == ids and not indexed & requeued

    time.sleep(0.6)  # the back-off; Elasticsearch answers again
    assert drain() == 4
    search = client.get("/api/v1/search/traces", params={"q": "warehouse", "size": 20}, headers=headers)
    assert sorted(item["external_id"] for item in search.json()["items"]) == sorted(t["id"] for t in traces)
