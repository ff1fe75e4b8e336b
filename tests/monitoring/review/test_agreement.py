"""Cohen's kappa against hand-computed values."""

import pytest

from metamon.monitoring.review.agreement import cohens_kappa


@pytest.mark.parametrize(
    "pairs,expected",
    [
        # observed 3/4, expected (2*1 + 2*3)/16 = 1/2 -> (0.75 - 0.5) / 0.5
        ([("pass", "pass"), ("pass", "fail"), ("fail", "fail"), ("fail", "fail")], 0.5),
        ([("pass", "pass"), ("fail", "fail"), ("needs_review", "needs_review")], 1.0),
        ([("pass", "fail"), ("fail", "pass")], -1.0),
        ([], None),
        ([("pass", "pass"), ("pass", "pass")], None),  # chance agreement is total: undefined
    ],
)
def test_cohens_kappa(pairs, expected):
    result = cohens_kappa(pairs)
    assert result == (pytest.approx(expected) if expected is not None else None)
