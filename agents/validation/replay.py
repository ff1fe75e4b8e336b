"""Replays golden cases through the baseline and the candidate config and scores both answers with the
same evaluators.

A case passes when every evaluator that applies to it passes. Its score is the mean of the applicable
evaluators' scores (with fact accuracy and guardrails: a wrong fact lowers it in proportion, a guardrail
breach halves it). A failed call (timeout, error) fails the case with score 0. A case no evaluator
applies to has nothing to fault: it passes with score 1.
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from metamon.agents.evaluation.evaluators.base import Evaluator
from metamon.agents.validation.golden import Case
from metamon.agents.validation.targets import Reply, Target

Progress = Callable[[int, int], None]  # (calls done, calls in all)


@dataclass(frozen=True)
class ReplayTrace:
    """The trace fields the evaluators read, for one answer of the target app."""

    app: str
    model: str | None
    input: str
    output: str
    retrieved_context: list[dict]
    reference: dict | None
    output_schema: dict | None
    latency_seconds: float | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    status: str
    error_type: str | None


@dataclass(frozen=True)
class Outcome:
    """One case under one config."""

    passed: bool
    score: float
    output: str
    scores: dict[str, float] = field(default_factory=dict)  # per applicable evaluator
    reasons: dict[str, str] = field(default_factory=dict)  # why each failing evaluator (or the call) failed
    error: str | None = None  # the call's failure, when it failed
    latency_seconds: float | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class PairedCase:
    case: Case
    baseline: Outcome
    candidate: Outcome


def score(case: Case, reply: Reply, config: dict, evaluators: Sequence[Evaluator], app: str) -> Outcome:
    if reply.status == "error":
        reason = reply.error or "the call failed"
        return Outcome(
            False, 0.0, "", reasons={"call": reason}, error=reason, latency_seconds=reply.latency_seconds
        )
    trace = ReplayTrace(
        app=case.app or app,
        model=config.get("model"),
        input=case.input,
        output=reply.output,
        retrieved_context=case.retrieved_context,
        reference=case.reference,
        output_schema=None,
        latency_seconds=reply.latency_seconds,
        input_tokens=reply.input_tokens,
        output_tokens=reply.output_tokens,
        cost_usd=reply.cost_usd,
        status="ok",
        error_type=None,
    )
    scores, reasons, passed = {}, {}, True
    for evaluator in evaluators:
        result = evaluator.evaluate(trace)
        if result is None or result.score is None or result.passed is None:
            continue
        scores[evaluator.name] = result.score
        if not result.passed:
            passed = False
            reasons[evaluator.name] = result.reason
    mean = sum(scores.values()) / len(scores) if scores else 1.0
    return Outcome(
        passed,
        mean,
        reply.output,
        scores,
        reasons,
        latency_seconds=reply.latency_seconds,
        cost_usd=reply.cost_usd,
    )


async def replay(
    cases: Sequence[Case],
    target: Target,
    baseline_config: dict,
    candidate_config: dict,
    evaluators: Sequence[Evaluator],
    *,
    app: str,
    progress: Progress | None = None,
) -> list[PairedCase]:
    """Every case under both configs, all calls in flight at once within the target's own limit.
    `target` must be entered (`async with target:`)."""
    total, done = 2 * len(cases), 0

    async def run(case: Case, config: dict) -> Outcome:
        nonlocal done
        outcome = score(case, await target.answer(case, config), config, evaluators, app)
        done += 1
        if progress is not None:
            progress(done, total)
        return outcome

    # A TaskGroup: should scoring itself fail, the other calls are cancelled rather than left running.
    async with asyncio.TaskGroup() as group:
        baseline = [group.create_task(run(case, baseline_config)) for case in cases]
        candidate = [group.create_task(run(case, candidate_config)) for case in cases]
    return [
        PairedCase(case, b.result(), c.result())
        for case, b, c in zip(cases, baseline, candidate, strict=True)
    ]
