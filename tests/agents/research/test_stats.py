"""The two-proportion z-test against textbook values."""

import pytest

from metamon.agents.research.stats import two_proportion_p_value


def test_known_values():
    # 10/100 vs 20/100: pooled 0.15, z = -1.980, two-sided p = 0.0477.
    assert two_proportion_p_value(10, 100, 20, 100) == pytest.approx(0.0477, abs=1e-4)
    # Symmetric in the two samples.
    assert two_proportion_p_value(20, 100, 10, 100) == two_proportion_p_value(10, 100, 20, 100)
    # Same rates: no evidence at all.
    assert two_proportion_p_value(5, 100, 50, 1000) == pytest.approx(1.0)


def test_degenerate_samples():
    assert two_proportion_p_value(0, 0, 5, 100) == 1.0
    assert two_proportion_p_value(0, 50, 0, 100) == 1.0
    assert two_proportion_p_value(50, 50, 100, 100) == 1.0
