"""The LangChain callback handler, on a real chain (LangChain's fake chat model) and the real API."""

import time

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from sqlalchemy import select

from metamon.monitoring.db.models import Project, Span, Trace
from metamon.monitoring.db.session import session_scope
from metamon.sdk.langchain import MetamonCallbackHandler
from tests.conftest import free_port, serve_api


class KnowledgeBase(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun):
        return [Document(page_content="Refunds are paid within 30 days.", metadata={"id": "kb-12"})]


def rag_chain(answer: str = "Refunds take 30 days."):
    prompt = ChatPromptTemplate.from_messages([("system", "Context: {context}"), ("human", "{question}")])
    return (
        {"context": KnowledgeBase(), "question": RunnablePassthrough()}
        | prompt
        | FakeListChatModel(responses=[answer])
        | StrOutputParser()
    )


def traces_of(database_url, project):
    with session_scope(database_url) as session:
        traces = session.scalars(select(Trace).join(Project).where(Project.slug == project)).all()
        return [(t, session.scalars(select(Span).where(Span.trace_id == t.id)).all()) for t in traces]


def key_of(headers: dict) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def test_a_chain_run_becomes_a_trace_with_its_spans(live_api, make_key, database_url):
    handler = MetamonCallbackHandler(
        live_api, key_of(make_key("lc-handler")), app="support-bot", prompt_version="v7", flush_interval=0.1
    )
    assert (
        rag_chain().invoke("How long do refunds take?", config={"callbacks": [handler]})
        == "Refunds take 30 days."
    )
    assert handler.shipper.flush(10)
    [(trace, spans)] = traces_of(database_url, "lc-handler")
    assert (trace.app, trace.prompt_version, trace.status) == ("support-bot", "v7", "ok")
    assert trace.input == "How long do refunds take?"
    assert trace.output == "Refunds take 30 days."
    assert trace.retrieved_context == [
        {"source_id": "kb-12", "content": "Refunds are paid within 30 days.", "score": None}
    ]
    assert trace.latency_seconds > 0
    assert {"retrieval", "llm", "chain"} <= {s.kind for s in spans}
    assert handler.shipper.stats.sent == 1


def test_a_failing_chain_is_recorded_as_an_error_and_the_error_still_reaches_the_app(
    live_api, make_key, database_url
):
    handler = MetamonCallbackHandler(live_api, key_of(make_key("lc-error")), flush_interval=0.1)

    def explode(_):
        raise ValueError("tool exploded")

    with pytest.raises(ValueError, match="tool exploded"):
        (RunnablePassthrough() | RunnableLambda(explode)).invoke("x", config={"callbacks": [handler]})
    handler.shipper.flush(10)
    [(trace, _)] = traces_of(database_url, "lc-error")
    assert (trace.status, trace.error_type, trace.error_message) == ("error", "ValueError", "tool exploded")


def test_metamon_down_never_blocks_or_breaks_the_application(make_key):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    handler = MetamonCallbackHandler(
        dead, "mm_x_y", flush_interval=0.05, max_retries=2, backoff=0.05, timeout=5, max_queue=5
    )
    chain = rag_chain()
    for _ in range(20):
        started = time.monotonic()
        assert chain.invoke("q", config={"callbacks": [handler]}) == "Refunds take 30 days."
        # far below the 5 s request timeout: the app thread never waits on the network
        assert time.monotonic() - started < 1
    handler.shipper.flush(10)
    stats = handler.shipper.stats
    assert stats.sent == 0 and stats.failed_attempts > 0
    assert stats.dropped_after_retries + stats.dropped_queue_full == 20


def test_traces_survive_a_short_outage_through_retries(settings, make_key, database_url):
    port = free_port()
    handler = MetamonCallbackHandler(
        f"http://127.0.0.1:{port}",
        key_of(make_key("lc-retry")),
        flush_interval=0.05,
        max_retries=8,
        backoff=0.1,
    )
    rag_chain().invoke("q", config={"callbacks": [handler]})
    time.sleep(0.3)  # first attempts fail: metamon is not up yet
    assert handler.shipper.stats.failed_attempts >= 1
    stop = serve_api(settings, port)
    try:
        assert handler.shipper.flush(20)
    finally:
        stop()
    assert handler.shipper.stats.sent == 1
    assert len(traces_of(database_url, "lc-retry")) == 1


def test_a_refused_batch_is_dropped_without_retrying(live_api):
    handler = MetamonCallbackHandler(live_api, "mm_bad_key", flush_interval=0.05, max_retries=5, backoff=1)
    rag_chain().invoke("q", config={"callbacks": [handler]})
    assert handler.shipper.flush(5)
    assert handler.shipper.stats.rejected == 1 and handler.shipper.stats.failed_attempts == 0
