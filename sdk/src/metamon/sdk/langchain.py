"""A LangChain callback handler that records each top-level run as a metamon trace.

    from metamon.sdk.langchain import MetamonCallbackHandler
    handler = MetamonCallbackHandler("http://metamon:8000", api_key, app="support-bot", prompt_version="v7")
    chain.invoke(question, config={"callbacks": [handler]})

Runs nested under the top-level run become its spans (llm, retrieval, tool, chain). Every callback
is guarded: a failure inside the handler is logged and never reaches the application.
"""

import functools
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

try:
    from langchain_core.callbacks import BaseCallbackHandler
except ImportError as exc:  # the SDK's only hard dependency is httpx
    raise ImportError("metamon.sdk.langchain needs LangChain: pip install 'metamon-sdk[langchain]'") from exc

from metamon.sdk.payload import document, text
from metamon.sdk.tracing import Metamon

log = logging.getLogger(__name__)


def _guarded(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            method(self, *args, **kwargs)
        except Exception:  # the host application must never see our failures
            log.exception("metamon callback %s failed", method.__name__)

    return wrapper


class MetamonCallbackHandler(BaseCallbackHandler):
    raise_error = False

    def __init__(self, url: str, api_key: str, *, client: Metamon | None = None, **options):
        """`options`: app, prompt_version, domain, shipper and the shipper's, as `Metamon` takes them;
        or pass the application's `client` to share its shipper."""
        self.client = client or Metamon(url, api_key, **options)
        self.shipper = self.client.shipper
        self._runs: dict[uuid.UUID, dict] = {}
        self._lock = threading.Lock()

    # -- run bookkeeping ------------------------------------------------------------------------
    def _start(self, run_id, parent_run_id, kind: str, name: str, inputs: Any, **extra) -> None:
        with self._lock:
            self._runs[run_id] = {
                "run_id": run_id,
                "parent": parent_run_id,
                "kind": kind,
                "name": name or kind,
                "start": datetime.now(UTC),
                "input": text(inputs),
                **extra,
            }

    def _end(self, run_id, output: Any = None, error: BaseException | None = None, **extra) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return
            run.update(end=datetime.now(UTC), output=text(output) if output is not None else None, **extra)
            if error is not None:
                run["error"] = error
            if run["parent"] is None or run["parent"] not in self._runs:
                self._ship(run)

    def _ship(self, root: dict) -> None:
        """Called with the lock held when a top-level run ends: collect its descendants, send."""
        members, frontier = [root], {root["run_id"]}
        while frontier:
            children = [r for r in self._runs.values() if r["parent"] in frontier]
            members += children
            frontier = {c["run_id"] for c in children}
        for run in members:
            self._runs.pop(run["run_id"], None)
        self.client.submit(root, members)

    # -- LangChain callbacks ------------------------------------------------------------------------
    @_guarded
    def on_chain_start(self, serialized, inputs, *, run_id, parent_run_id=None, **kwargs):
        self._start(
            run_id, parent_run_id, "chain", kwargs.get("name") or (serialized or {}).get("name", ""), inputs
        )

    @_guarded
    def on_chain_end(self, outputs, *, run_id, **kwargs):
        self._end(run_id, outputs)

    @_guarded
    def on_chain_error(self, error, *, run_id, **kwargs):
        self._end(run_id, error=error)

    @_guarded
    def on_chat_model_start(self, serialized, messages, *, run_id, parent_run_id=None, **kwargs):
        params = kwargs.get("invocation_params") or {}
        model = (
            (kwargs.get("metadata") or {}).get("ls_model_name")
            or params.get("model")
            or params.get("model_name")
            or (serialized or {}).get("name")
        )
        text = "\n".join(str(m.content) for batch in messages for m in batch)
        self._start(run_id, parent_run_id, "llm", kwargs.get("name") or "chat", text, model=model)

    @_guarded
    def on_llm_start(self, serialized, prompts, *, run_id, parent_run_id=None, **kwargs):
        params = kwargs.get("invocation_params") or {}
        model = params.get("model") or params.get("model_name") or (serialized or {}).get("name")
        self._start(
            run_id, parent_run_id, "llm", kwargs.get("name") or "llm", "\n".join(prompts), model=model
        )

    @_guarded
    def on_llm_end(self, response, *, run_id, **kwargs):
        generations = [g for batch in response.generations for g in batch]
        text = "\n".join(g.text for g in generations)
        usage = next(
            (
                getattr(g.message, "usage_metadata", None)
                for g in generations
                if getattr(getattr(g, "message", None), "usage_metadata", None)
            ),
            None,
        )
        legacy = (response.llm_output or {}).get("token_usage") or {}
        self._end(
            run_id,
            text,
            input_tokens=(usage or {}).get("input_tokens", legacy.get("prompt_tokens")),
            output_tokens=(usage or {}).get("output_tokens", legacy.get("completion_tokens")),
        )

    @_guarded
    def on_llm_error(self, error, *, run_id, **kwargs):
        self._end(run_id, error=error)

    @_guarded
    def on_retriever_start(self, serialized, query, *, run_id, parent_run_id=None, **kwargs):
        self._start(run_id, parent_run_id, "retrieval", kwargs.get("name") or "retriever", query)

    @_guarded
    def on_retriever_end(self, documents, *, run_id, **kwargs):
        docs = [document(d.metadata.get("id") or d.metadata.get("source"), d.page_content) for d in documents]
        self._end(run_id, [d["content"] for d in docs], documents=docs)

    @_guarded
    def on_retriever_error(self, error, *, run_id, **kwargs):
        self._end(run_id, error=error)

    @_guarded
    def on_tool_start(self, serialized, input_str, *, run_id, parent_run_id=None, **kwargs):
        self._start(
            run_id, parent_run_id, "tool", kwargs.get("name") or (serialized or {}).get("name", ""), input_str
        )

    @_guarded
    def on_tool_end(self, output, *, run_id, **kwargs):
        self._end(run_id, output)

    @_guarded
    def on_tool_error(self, error, *, run_id, **kwargs):
        self._end(run_id, error=error)
