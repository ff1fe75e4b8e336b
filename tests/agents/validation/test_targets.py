"""Targets: the sample app as a sync callable, an async callable and an HTTP endpoint on real uvicorn;
timeouts, errors and malformed answers become failed replies with their reason."""

import asyncio
import time

import pytest

from metamon.agents.validation.golden import Case
from metamon.agents.validation.targets import CallableTarget, HttpTarget, target_from_spec
from metamon.monitoring.demo import sample_app
from metamon.monitoring.settings import Settings
from tests.agents.validation.servers import serving
from tests.conftest import free_port

CASE = Case(
    case_key="k",
    input="How long is the free trial of Forms?",
    reference={"facts": ["Forms free trial lasts 14 days"]},
    retrieved_context=[{"source_id": "trials", "content": "The Forms free trial lasts 14 days."}],
)
STALL = {"faults": {"stall_on": ["free trial"], "stall_seconds": 3}}
FAIL = {"faults": {"error_on": ["free trial"]}}


async def async_answer(input: str, retrieved_context: list[dict], config: dict) -> dict:
    """The sample app behind an async function, stalling without blocking."""
    stall, _ = sample_app.injected_faults(input, config)
    await asyncio.sleep(stall)
    return sample_app.compose(input, retrieved_context, config)


def not_json_serialisable(input: str, retrieved_context: list[dict], config: dict) -> object:
    return 42


def app_error(input: str, retrieved_context: list[dict], config: dict) -> dict:
    return {"status": "error", "error": "quota exceeded"}


def answer_all(target, configs: list[dict]):
    async def run():
        async with target:
            return await asyncio.gather(*(target.answer(CASE, config) for config in configs))

    return asyncio.run(run())


@pytest.mark.parametrize(
    "spec", ["metamon.monitoring.demo.sample_app:answer", "tests.agents.validation.test_targets:async_answer"]
)
def test_callable_target_answers_and_reports_usage(spec):
    [reply] = answer_all(CallableTarget.from_spec(spec), [{"model": "gpt-4o"}])
    assert reply.status == "ok" and reply.error is None
    assert reply.output == "The Forms free trial lasts 14 days."
    assert reply.input_tokens > 0 and reply.output_tokens > 0 and reply.cost_usd > 0
    assert reply.latency_seconds == pytest.approx(0.6 + 0.012 * reply.output_tokens)


@pytest.mark.parametrize(
    "spec", ["metamon.monitoring.demo.sample_app:answer", "tests.agents.validation.test_targets:async_answer"]
)
def test_a_stalled_callable_times_out_without_holding_the_run(spec):
    started = time.perf_counter()
    stalled, fine = answer_all(CallableTarget.from_spec(spec, timeout_seconds=0.3), [STALL, {}])
    assert time.perf_counter() - started < 2  # the stall is 3 s; nothing waits for it
    assert stalled.status == "error" and stalled.error == "timeout after 0.3s" and stalled.output == ""
    assert fine.status == "ok"


def test_callable_errors_and_bad_answers_are_failed_replies():
    [raised] = answer_all(CallableTarget.from_spec("metamon.monitoring.demo.sample_app:answer"), [FAIL])
    assert raised.error == "RuntimeError: upstream model error (injected)"
    [bad] = answer_all(CallableTarget(not_json_serialisable), [{}])
    assert bad.error == "bad answer: expected a JSON object or a string, got int"
    [reported] = answer_all(CallableTarget(app_error), [{}])
    assert reported.error == "the app reported an error: quota exceeded"


def test_concurrency_is_bounded():
    in_flight, peak = 0, 0

    async def tracked(input, retrieved_context, config):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return "ok"

    replies = answer_all(CallableTarget(tracked, concurrency=3), [{}] * 20)
    assert all(r.status == "ok" for r in replies)
    assert peak == 3


def test_bad_specs_and_limits_are_refused():
    with pytest.raises(ValueError, match="module:attribute"):
        CallableTarget.from_spec("metamon.monitoring.demo.sample_app")
    with pytest.raises(ModuleNotFoundError):
        CallableTarget.from_spec("no_such_module:f")
    with pytest.raises(ValueError, match="concurrency"):
        CallableTarget(app_error, concurrency=0)
    with pytest.raises(RuntimeError, match="async with"):
        asyncio.run(CallableTarget(app_error).answer(CASE, {}))


def test_spec_picks_the_form_and_the_settings_limits():
    settings = Settings(validation_concurrency=3, validation_timeout_seconds=4.5)
    http = target_from_spec("http://127.0.0.1:1/answer", settings)
    assert isinstance(http, HttpTarget) and (http.concurrency, http.timeout_seconds) == (3, 4.5)
    assert isinstance(target_from_spec("metamon.monitoring.demo.sample_app:answer", settings), CallableTarget)


@pytest.mark.stack
def test_http_target_against_the_sample_app_on_uvicorn():
    with serving(sample_app.app) as base:
        target = HttpTarget(f"{base}/answer", timeout_seconds=0.5)
        started = time.perf_counter()
        ok, stalled, failed = answer_all(target, [{"prompt_version": "v2"}, STALL, FAIL])
        assert time.perf_counter() - started < 2
        [missing] = answer_all(HttpTarget(f"{base}/no-such-path"), [{}])
    assert ok.status == "ok" and ok.output == "The Forms free trial lasts 14 days." and ok.cost_usd > 0
    assert stalled.error == "timeout after 0.5s"
    assert failed.error == 'HTTP 502: {"detail":"upstream model error (injected)"}'
    assert missing.error.startswith("HTTP 404")


def test_http_target_with_nothing_listening():
    [reply] = answer_all(HttpTarget(f"http://127.0.0.1:{free_port()}/answer"), [{}])
    assert reply.status == "error" and reply.error.startswith("connection failed (ConnectError)")
