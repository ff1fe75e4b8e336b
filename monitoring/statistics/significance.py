"""Significance tests: two independent failure rates (a pooled two-proportion z-test, its normal tail by
math.erfc), and paired pass/fail outcomes (McNemar's exact test, in exact integer arithmetic)."""

import math

from metamon.monitoring.statistics.failures import Counts


def two_proportion_p_value(a: Counts, b: Counts) -> float:
    """Two-sided p-value that samples a and b share one failure rate (pooled-variance z-test)."""
    if not a.n or not b.n:
        return 1.0
    pooled = (a.failures + b.failures) / (a.n + b.n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / a.n + 1 / b.n))
    if se == 0:
        return 1.0
    z = (a.rate - b.rate) / se
    return math.erfc(abs(z) / math.sqrt(2))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: under H0 the b + c discordant pairs split Binomial(b + c, 1/2)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)
