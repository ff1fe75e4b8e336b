"""The validation agent: replays the golden dataset through a target app's baseline and candidate
configs, compares them with paired statistics, decides, and records a `validation_results` row.

The caller owns the transaction (the row is flushed, not committed) and the proposal's state.
"""

import asyncio
import statistics
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from langchain_core.language_models import BaseChatModel
from sqlalchemy.orm import Session

from metamon.agents.evaluation.evaluators.base import Evaluator
from metamon.agents.evaluation.registry import build_evaluators
from metamon.agents.validation.decision import decide
from metamon.agents.validation.golden import load_cases
from metamon.agents.validation.replay import Outcome, PairedCase, Progress, replay
from metamon.agents.validation.stats import compare
from metamon.agents.validation.targets import Target, target_from_spec
from metamon.monitoring.db.models import ValidationResult
from metamon.monitoring.settings import Settings

SCORE_DEFINITION = "mean of the applicable evaluators' scores; a failed call scores 0"


class NoGoldenCases(ValueError):
    pass


def select_evaluators(
    settings: Settings, chat_model: BaseChatModel | None = None
) -> tuple[list[Evaluator], dict[str, str]]:
    """The configured evaluators that can run, and why each other configured one cannot."""
    by_name = {e.name: e for e in build_evaluators(settings, chat_model)}
    chosen, skipped = [], {}
    for name in settings.validation.evaluators:
        evaluator = by_name.get(name)
        usable, why = evaluator.available() if evaluator else (False, "no evaluator of that name")
        if usable:
            chosen.append(evaluator)
        else:
            skipped[name] = why
    if not chosen:
        raise ValueError(f"none of the validation evaluators can run: {skipped}")
    return chosen, skipped


def side_metrics(outcomes: Sequence[Outcome], pairs: Sequence[PairedCase], config: dict) -> dict:
    """Pass rate, mean score, per evaluator and per tag, and the failed calls, of one side."""
    n = len(outcomes)
    per_evaluator: dict[str, list[float]] = defaultdict(list)
    failed_evaluator: dict[str, int] = defaultdict(int)
    per_tag: dict[str, list[Outcome]] = defaultdict(list)
    for pair, outcome in zip(pairs, outcomes, strict=True):
        for name, value in outcome.scores.items():
            per_evaluator[name].append(value)
        for name in outcome.reasons:
            failed_evaluator[name] += 1
        for tag in pair.case.tags:
            per_tag[tag].append(outcome)
    latencies = [o.latency_seconds for o in outcomes if o.latency_seconds is not None and o.error is None]
    costs = [o.cost_usd for o in outcomes if o.cost_usd is not None]
    return {
        "config": config,
        "pass_rate": round(sum(o.passed for o in outcomes) / n, 4),
        "mean_score": round(sum(o.score for o in outcomes) / n, 4),
        "passed_cases": sum(o.passed for o in outcomes),
        "failed_cases": sum(not o.passed for o in outcomes),
        "evaluators": {
            name: {
                "applied": len(values),
                "mean_score": round(sum(values) / len(values), 4),
                "pass_rate": round(1 - failed_evaluator[name] / len(values), 4),
            }
            for name, values in sorted(per_evaluator.items())
        },
        "per_tag": {
            tag: {
                "cases": len(group),
                "pass_rate": round(sum(o.passed for o in group) / len(group), 4),
                "mean_score": round(sum(o.score for o in group) / len(group), 4),
            }
            for tag, group in sorted(per_tag.items())
        },
        "call_failures": [
            {"case_key": pair.case.case_key, "error": outcome.error}
            for pair, outcome in zip(pairs, outcomes, strict=True)
            if outcome.error
        ],
        "latency_p50_seconds": round(statistics.median(latencies), 4) if latencies else None,
        "cost_usd": round(sum(costs), 6) if costs else None,
    }


async def replay_with(target: Target, **kwargs) -> list[PairedCase]:
    async with target:
        return await replay(target=target, **kwargs)


def validate(
    session: Session,
    settings: Settings,
    *,
    project_id: uuid.UUID,
    proposal_id: uuid.UUID,
    app: str,
    baseline_config: dict,
    candidate_config: dict,
    target: Target | str,
    tags: list[str] | None = None,
    progress: Progress | None = None,
    chat_model: BaseChatModel | None = None,
) -> ValidationResult:
    """Validate `candidate_config` against `baseline_config` of `app` on the project's golden cases
    (`tags`: only cases with one of them). `target` is a Target, an http(s) URL or 'module:function'.
    Runs its own event loop: from async code, call it through `asyncio.to_thread`."""
    cases = load_cases(session, project_id, app=app, tags=tags)
    if not cases:
        raise NoGoldenCases(f"no golden cases for app {app!r}" + (f" with tags {tags}" if tags else ""))
    evaluators, skipped = select_evaluators(settings, chat_model)
    if isinstance(target, str):
        target = target_from_spec(target, settings)
    row = ValidationResult(proposal_id=proposal_id, status="running", case_count=len(cases))
    session.add(row)
    session.flush()
    try:
        pairs = asyncio.run(
            replay_with(
                target,
                cases=cases,
                baseline_config=baseline_config,
                candidate_config=candidate_config,
                evaluators=evaluators,
                app=app,
                progress=progress,
            )
        )
        comparison = compare(
            pairs,
            score_drop=settings.validation.score_drop,
            resamples=settings.validation.bootstrap_resamples,
        )
    except Exception as exc:
        row.status, row.finished_at = "error", datetime.now(UTC)
        row.candidate_metrics = {"error": f"{type(exc).__name__}: {exc}"}
        session.flush()
        raise
    decision = decide(
        comparison, alpha=settings.validation.alpha, max_regressions=settings.validation.max_regressions
    )
    baseline = side_metrics([p.baseline for p in pairs], pairs, baseline_config)
    candidate = side_metrics([p.candidate for p in pairs], pairs, candidate_config)
    candidate["per_tag"] = {
        tag: candidate["per_tag"][tag]
        | {k: v for k, v in stats.items() if k.endswith(("_delta", "regressions"))}
        for tag, stats in comparison.per_tag.items()
    }
    candidate["comparison"] = {
        "target": target.name,
        "evaluators": [e.name for e in evaluators],
        "evaluators_skipped": skipped,
        "score": SCORE_DEFINITION,
        "baseline_only_passed": comparison.baseline_only_passed,
        "candidate_only_passed": comparison.candidate_only_passed,
        "decision": asdict(decision)
        | {
            "alpha": settings.validation.alpha,
            "max_regressions": settings.validation.max_regressions,
            "score_drop": settings.validation.score_drop,
        },
    }
    row.status = "completed"
    row.baseline_metrics, row.candidate_metrics = baseline, candidate
    row.mcnemar_p_value = comparison.p_value
    row.score_delta_mean = comparison.delta_mean
    row.score_delta_ci_low, row.score_delta_ci_high = comparison.ci_low, comparison.ci_high
    row.regressions = comparison.regressions
    row.passed = decision.passed
    row.finished_at = datetime.now(UTC)
    session.flush()
    return row
