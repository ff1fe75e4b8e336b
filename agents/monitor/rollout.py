"""The monitor agent's rollout verdict: the proposal's metric on the traces the candidate config served
against the app's other traces since the candidate was created. Worse by more than the allowed
degradation (relative): roll back; otherwise, with enough samples on both sides, one stage further.
The agent only decides; `monitoring/workflow/rollout_monitor.py` reads the counts and applies it."""

import math
from dataclasses import dataclass
from typing import Literal

from metamon.agents.research.metrics import Metric


@dataclass(frozen=True)
class Side:
    """One side of the comparison: scored traces and the metric's value over them."""

    n: int
    value: float | None


@dataclass(frozen=True)
class RolloutVerdict:
    action: Literal["advance", "roll_back", "wait"]
    detail: str


def degradation(metric: Metric, candidate: float, others: float) -> float:
    """How much worse the candidate's value is than the others', relative to theirs (negative: better)."""
    worse = others - candidate if metric.direction == "maximize" else candidate - others
    if others == 0:
        return math.inf if worse > 0 else 0.0
    return worse / others


def judge_rollout(
    metric: Metric,
    version: int,
    stage: int,
    candidate: Side,
    others: Side,
    *,
    min_samples: int,
    max_degradation: float,
) -> RolloutVerdict:
    if min(candidate.n, others.n) < min_samples:
        return RolloutVerdict(
            "wait",
            f"{candidate.n} traces on config v{version} and {others.n} others scored for "
            f"{metric.label}; {min_samples} needed on each side",
        )
    worse = degradation(metric, candidate.value, others.value)
    figures = (
        f"{metric.label} {candidate.value:.4f} on config v{version} ({candidate.n} traces) against "
        f"{others.value:.4f} on the others ({others.n} traces) at {stage}%"
    )
    if worse > max_degradation:
        reason = f"{figures}: {worse:.1%} worse, more than the {max_degradation:.0%} allowed"
        return RolloutVerdict("roll_back", reason)
    return RolloutVerdict("advance", f"{figures}: within {max_degradation:.0%}")
