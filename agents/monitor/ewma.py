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


def z_score(
    value: float, expected: Expectation, abs_floor: float, rel_floor: float, samples: int | None = None
) -> float:
    """Standard deviations between value and expectation. The deviation is floored so that a perfectly
    flat history (an error ratio of exactly 0 for hours) does not turn the first blip into infinity.
    For a share (a mean of values in [0, 1]) over `samples` traces, the latest bucket's own sampling error
    at the expected share adds in quadrature: 4 errors in 77 traces against a 1% history is noise."""
    std = max(expected.std, abs_floor, rel_floor * abs(expected.mean))
    if samples:
        p = min(max(expected.mean, 0.0), 1.0)
        std = math.sqrt(std**2 + p * (1 - p) / samples)
    return (value - expected.mean) / std
