"""The two-proportion z-test and McNemar's exact test against textbook values and independent definitions."""

import math
from fractions import Fraction

import pytest

from metamon.monitoring.statistics.failures import Counts
from metamon.monitoring.statistics.significance import mcnemar_exact, two_proportion_p_value


def test_known_values():
    # 10/100 vs 20/100: pooled 0.15, z = -1.980, two-sided p = 0.0477.
    assert two_proportion_p_value(Counts(100, 10), Counts(100, 20)) == pytest.approx(0.0477, abs=1e-4)
    # Symmetric in the two samples.
    assert two_proportion_p_value(Counts(100, 20), Counts(100, 10)) == two_proportion_p_value(
        Counts(100, 10), Counts(100, 20)
    )
    # Same rates: no evidence at all.
    assert two_proportion_p_value(Counts(100, 5), Counts(1000, 50)) == pytest.approx(1.0)


def test_degenerate_samples():
    assert two_proportion_p_value(Counts(0, 0), Counts(100, 5)) == 1.0
    assert two_proportion_p_value(Counts(50, 0), Counts(100, 0)) == 1.0
    assert two_proportion_p_value(Counts(50, 50), Counts(100, 100)) == 1.0


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        (1, 9, 0.021484375),  # 2 * (1 + 10) / 1024, the textbook example
        (9, 1, 0.021484375),
        (0, 6, 0.03125),  # 2 / 64
        (2, 12, 0.012939453125),  # 2 * (1 + 14 + 91) / 16384
        (0, 0, 1.0),
        (4, 4, 1.0),
        (37, 37, 1.0),
        (3, 4, 1.0),  # the doubled tail exceeds 1: capped
    ],
)
def test_mcnemar_exact_known_values(b, c, expected):
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_matches_the_binomial_point_probability_definition():
    # Independent definition: sum P(K = k) over every k no more likely than the observed split.
    for b, c in [(5, 17), (12, 30), (40, 61), (0, 25)]:
        n = b + c
        pmf = [Fraction(math.comb(n, k), 2**n) for k in range(n + 1)]
        p = float(sum(q for q in pmf if q <= pmf[b]))
        assert mcnemar_exact(b, c) == pytest.approx(min(1.0, p), rel=1e-12)


def test_mcnemar_p_falls_as_the_split_grows_more_lopsided():
    ps = [mcnemar_exact(5, c) for c in range(5, 40)]
    assert ps == sorted(ps, reverse=True)
    assert mcnemar_exact(0, 72) < 1e-20
