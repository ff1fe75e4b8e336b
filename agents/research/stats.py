"""Two-proportion z-test with a pure-Python normal tail (math.erfc): no SciPy for one formula."""

import math


def two_proportion_p_value(failures_a: int, n_a: int, failures_b: int, n_b: int) -> float:
    """Two-sided p-value that samples a and b share one failure rate (pooled-variance z-test)."""
    if not n_a or not n_b:
        return 1.0
    pooled = (failures_a + failures_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 1.0
    z = (failures_a / n_a - failures_b / n_b) / se
    return math.erfc(abs(z) / math.sqrt(2))
