"""Exponentially weighted mean and variance of a series, and how far a new value lies from them."""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Expectation:
    mean: float
    std: float
    points: int


def ewma(history: list[float], alpha: float) -> Expectation:
    """EWMA mean and variance over `history` (oldest first), the incremental form of Finch (2009)."""
    mean, var = history[0], 0.0
    for x in history[1:]:
        diff = x - mean
        incr = alpha * diff
        mean += incr
        var = (1 - alpha) * (var + diff * incr)
    return Expectation(mean, math.sqrt(var), len(history))


def z_score(value: float, expected: Expectation, abs_floor: float, rel_floor: float) -> float:
    """Standard deviations between value and expectation. The deviation is floored so that a perfectly
    flat history (an error ratio of exactly 0 for hours) does not turn the first blip into infinity."""
    std = max(expected.std, abs_floor, rel_floor * abs(expected.mean))
    return (value - expected.mean) / std
