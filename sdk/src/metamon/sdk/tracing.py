"""Tracing plain Python code: a context manager and a decorator.

    from metamon.sdk import Metamon
    metamon = Metamon("http://metamon:8000", api_key, app="support-bot", prompt_version="v7")

    @metamon.traced(kind="retrieval")
    def search(question): ...                # arguments become the input, the return value the output

    with metamon.trace("answer", input=question, tags=["beta"]) as run:
        docs = search(question)              # inside a trace: a span of it
        run.add_document("kb-12", docs[0])
        run.output, run.model = reply, "gpt-4o"

The outermost `trace` is the trace; those opened inside it (in the same thread or asyncio task) are its
spans. An exception is recorded as the trace's error and re-raised unchanged. Recording never raises
into the application: a failure inside the SDK is logged and the application's code runs on.
"""

import functools
import inspect
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from metamon.sdk.payload import document, text, trace_payload
from metamon.sdk.shipper import TraceShipper

log = logging.getLogger(__name__)
KINDS = ("llm", "retrieval", "tool", "chain", "embedding", "agent", "other")


class Run:
    """What the code inside a `trace` block can say about its run."""

    def __init__(self, record: dict):
        self._record = record
        self.output: Any = None
        self.model: str | None = None
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def add_document(self, source_id: Any, content: Any, score: float | None = None) -> None:
        """A retrieved document the answer was grounded on (the research agent groups by source)."""
        self._record.setdefault("documents", []).append(document(source_id, content, score))


# The runs of the trace being recorded in this context: (its runs, the innermost open run).
_current: ContextVar[tuple[list[dict], dict] | None] = ContextVar("metamon_current_run", default=None)


class Metamon:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        app: str = "default",
        prompt_version: str | None = None,
        domain: str | None = None,
        shipper: TraceShipper | None = None,
        **shipper_options,
    ):
        self.app, self.prompt_version, self.domain = app, prompt_version, domain
        self.shipper = shipper or TraceShipper(url, api_key, **shipper_options)

    @contextmanager
    def trace(
        self,
        name: str,
        *,
        kind: str = "chain",
        input: Any = "",
        tags: list[str] | None = None,
        metadata: dict | None = None,
    ) -> Iterator[Run]:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        outer = _current.get()
        record = {
            "run_id": uuid.uuid4(),
            "parent": outer[1]["run_id"] if outer else None,
            "kind": kind,
            "name": name or kind,
            "start": datetime.now(UTC),
            "input": text(input),
            "tags": list(tags or []),
            "metadata": dict(metadata or {}),
        }
        runs = outer[0] if outer else []
        runs.append(record)
        token = _current.set((runs, record))
        run = Run(record)
        try:
            yield run
        except BaseException as exc:
            record["error"] = exc
            raise
        finally:
            _current.reset(token)
            self._finish(run, record, runs, root=outer is None)

    def _finish(self, run: Run, record: dict, runs: list[dict], root: bool) -> None:
        try:
            record.update(
                end=datetime.now(UTC),
                output=text(run.output) if run.output is not None else None,
                model=run.model,
                input_tokens=run.input_tokens,
                output_tokens=run.output_tokens,
            )
            if root:
                self.submit(record, runs)
        except Exception:  # the host application must never see our failures
            log.exception("metamon could not record run %s", record.get("name"))

    def traced(self, name: str | None = None, *, kind: str = "chain"):
        """Decorate a function (sync or async): each call is a `trace` (a span inside another one)."""

        def decorate(function):
            label = name or function.__qualname__

            def arguments(args, kwargs) -> dict:
                try:
                    bound = inspect.signature(function).bind(*args, **kwargs)
                    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
                except TypeError:
                    return {"args": args, "kwargs": kwargs}

            if inspect.iscoroutinefunction(function):

                @functools.wraps(function)
                async def async_wrapper(*args, **kwargs):
                    with self.trace(label, kind=kind, input=arguments(args, kwargs)) as run:
                        run.output = await function(*args, **kwargs)
                        return run.output

                return async_wrapper

            @functools.wraps(function)
            def wrapper(*args, **kwargs):
                with self.trace(label, kind=kind, input=arguments(args, kwargs)) as run:
                    run.output = function(*args, **kwargs)
                    return run.output

            return wrapper

        return decorate

    def submit(self, root: dict, runs: list[dict]) -> bool:
        """Queue the trace of the top-level run `root` (`runs`: it and its descendants, see payload.py)."""
        return self.shipper.submit(
            trace_payload(root, runs, app=self.app, prompt_version=self.prompt_version, domain=self.domain)
        )

    def flush(self, timeout: float = 30.0) -> bool:
        return self.shipper.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self.shipper.close(timeout)
