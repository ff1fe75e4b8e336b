"""Percentiles and the bootstrap interval of a mean against normal theory."""

import math
import random
import statistics

import pytest

from metamon.monitoring.statistics.bootstrap import bootstrap_mean_ci, percentile


def test_percentile_interpolates_linearly():
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([1, 2, 3, 4], 0.0) == 1
    assert percentile([1, 2, 3, 4], 1.0) == 4
    assert percentile([10.0], 0.975) == 10.0


def test_bootstrap_interval_contains_the_mean_and_matches_normal_theory():
    rng = random.Random(7)
    sample = [rng.gauss(0.1, 0.2) for _ in range(400)]
    low, high = bootstrap_mean_ci(sample, resamples=2000, seed=1)
    mean, se = statistics.fmean(sample), statistics.stdev(sample) / math.sqrt(len(sample))
    assert low < mean < high
    assert low < 0.1 < high  # the true mean
    assert high - low == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_bootstrap_is_seeded_and_degenerate_on_a_constant_sample():
    values = [0.0] * 30 + [1.0] * 10
    assert bootstrap_mean_ci(values, seed=3) == bootstrap_mean_ci(values, seed=3)
    assert bootstrap_mean_ci([0.25] * 50) == (pytest.approx(0.25), pytest.approx(0.25))
    with pytest.raises(ValueError):
        bootstrap_mean_ci([])
