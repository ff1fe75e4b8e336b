"""The target app under test: an HTTP endpoint or a Python callable ("module:function", sync or async).

Both take {"input", "retrieved_context", "config"} and answer {"output"} plus, optionally,
"latency_seconds", "input_tokens", "output_tokens", "cost_usd" and "status" (a callable may also return
the output as a plain string). Calls run with bounded concurrency and a per-call timeout; a timeout, an
exception, an HTTP error or a malformed answer becomes a failed `Reply` with its reason, never an
exception out of `answer`.
"""

import asyncio
import inspect
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from metamon.agents.validation.golden import Case
from metamon.monitoring.importing import import_object
from metamon.monitoring.settings import Settings


@dataclass(frozen=True)
class Reply:
    output: str
    status: str = "ok"  # ok | error
    error: str | None = None  # why the call failed, when it did
    latency_seconds: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None

    @classmethod
    def failed(cls, reason: str, latency_seconds: float) -> "Reply":
        return cls(output="", status="error", error=reason, latency_seconds=latency_seconds)


class BadAnswer(ValueError):
    """The target answered, but not with what the contract asks for."""


def parse_answer(body: Any, elapsed: float) -> Reply:
    if isinstance(body, str):
        return Reply(output=body, latency_seconds=elapsed)
    if not isinstance(body, dict):
        raise BadAnswer(f"expected a JSON object or a string, got {type(body).__name__}")
    if body.get("status") == "error":
        return Reply.failed(
            f"the app reported an error: {body.get('error') or body.get('output') or '?'}", elapsed
        )
    if not isinstance(body.get("output"), str):
        raise BadAnswer('no string "output" in the answer')
    try:
        return Reply(
            output=body["output"],
            latency_seconds=float(body["latency_seconds"])
            if body.get("latency_seconds") is not None
            else elapsed,
            input_tokens=int(body["input_tokens"]) if body.get("input_tokens") is not None else None,
            output_tokens=int(body["output_tokens"]) if body.get("output_tokens") is not None else None,
            cost_usd=float(body["cost_usd"]) if body.get("cost_usd") is not None else None,
        )
    except (TypeError, ValueError) as exc:
        raise BadAnswer(f"a numeric field is not a number ({exc})") from exc


class Target:
    """Use as `async with target:`; then `await target.answer(case, config)` from many tasks at once."""

    def __init__(self, *, concurrency: int = 8, timeout_seconds: float = 30.0):
        if concurrency < 1 or timeout_seconds <= 0:
            raise ValueError("concurrency must be at least 1 and the timeout positive")
        self.concurrency, self.timeout_seconds = concurrency, timeout_seconds
        self._slots: asyncio.Semaphore | None = None

    @property
    def name(self) -> str:
        raise NotImplementedError

    async def __aenter__(self) -> "Target":
        self._slots = asyncio.Semaphore(self.concurrency)  # made here: it belongs to the running loop
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._slots = None

    async def _request(self, payload: dict) -> Any:
        raise NotImplementedError

    async def answer(self, case: Case, config: dict) -> Reply:
        if self._slots is None:
            raise RuntimeError("use the target inside `async with target:`")
        payload = {"input": case.input, "retrieved_context": case.retrieved_context, "config": config}
        async with self._slots:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    body = await self._request(payload)
                return parse_answer(body, time.perf_counter() - started)
            except (TimeoutError, httpx.TimeoutException):  # whichever clock runs out first
                return Reply.failed(f"timeout after {self.timeout_seconds:g}s", time.perf_counter() - started)
            except Exception as exc:  # the app's failure is the case's failure, not the run's
                return Reply.failed(describe(exc), time.perf_counter() - started)


def describe(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        detail = exc.response.text.strip().replace("\n", " ")[:200]
        return f"HTTP {exc.response.status_code}: {detail}"
    if isinstance(exc, httpx.TransportError):
        return f"connection failed ({type(exc).__name__}): {exc}"
    if isinstance(exc, BadAnswer):
        return f"bad answer: {exc}"
    return f"{type(exc).__name__}: {exc}"


class HttpTarget(Target):
    """POSTs the case as JSON to `url`."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None, **limits):
        super().__init__(**limits)
        self.url, self.headers = url, headers or {}
        self._client: httpx.AsyncClient | None = None

    @property
    def name(self) -> str:
        return self.url

    async def __aenter__(self) -> "HttpTarget":
        await super().__aenter__()
        self._client = httpx.AsyncClient(
            headers=self.headers,
            timeout=self.timeout_seconds,
            limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
        )
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        await super().__aexit__(*exc_info)

    async def _request(self, payload: dict) -> Any:
        response = await self._client.post(self.url, json=payload)
        response.raise_for_status()
        try:
            return response.json()
        except ValueError as exc:
            raise BadAnswer("the response is not JSON") from exc


class CallableTarget(Target):
    """Calls `function(input=..., retrieved_context=..., config=...)`. A sync function runs on a thread
    pool of its own: an overrunning call keeps its thread until it returns (Python cannot stop a
    thread), but the run goes on and does not wait for it at the end."""

    def __init__(self, function: Callable, **limits):
        super().__init__(**limits)
        self.function = function
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def from_spec(cls, spec: str, **limits) -> "CallableTarget":
        """'package.module:function' (or 'package.module:object.method')."""
        function = import_object(spec)
        if not callable(function):
            raise ValueError(f"{spec} is not callable")
        return cls(function, **limits)

    @property
    def name(self) -> str:
        return f"{self.function.__module__}:{self.function.__qualname__}"

    async def __aenter__(self) -> "CallableTarget":
        await super().__aenter__()
        if not inspect.iscoroutinefunction(self.function):
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="metamon-target")
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        await super().__aexit__(*exc_info)

    async def _request(self, payload: dict) -> Any:
        if self._pool is None:
            return await self.function(**payload)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: self.function(**payload))


def target_from_spec(spec: str, settings: Settings, headers: dict[str, str] | None = None) -> Target:
    """An http(s) URL is an endpoint; anything else is 'module:function'."""
    limits = {
        "concurrency": settings.validation.concurrency,
        "timeout_seconds": settings.validation.timeout_seconds,
    }
    if spec.startswith(("http://", "https://")):
        return HttpTarget(spec, headers=headers, **limits)
    return CallableTarget.from_spec(spec, **limits)
