"""The validation verdict. A candidate passes when all three hold:
1. its pass rate is not lower than the baseline's;
2. it shows an improvement: McNemar's exact p < alpha with more cases fixed than broken, or the
   bootstrap 95% interval of the mean score delta lies above 0;
3. it has at most `max_regressions` regressions (pass → fail, or a score drop past the threshold).
"""

from dataclasses import dataclass

from metamon.agents.validation.stats import Comparison


@dataclass(frozen=True)
class Decision:
    passed: bool
    checks: dict[str, bool]
    reasons: list[str]


def decide(comparison: Comparison, *, alpha: float, max_regressions: int) -> Decision:
    c = comparison
    not_worse = c.candidate_pass_rate >= c.baseline_pass_rate
    significant = c.p_value < alpha and c.candidate_only_passed > c.baseline_only_passed
    ci_above_zero = c.ci_low > 0
    few_regressions = len(c.regressions) <= max_regressions
    checks = {
        "pass_rate_not_lower": not_worse,
        "improvement": significant or ci_above_zero,
        "regressions_within_limit": few_regressions,
    }
    reasons = [
        f"pass rate {c.baseline_pass_rate:.1%} → {c.candidate_pass_rate:.1%}"
        + ("" if not_worse else " (lower than the baseline)"),
        f"McNemar exact p = {c.p_value:.3g} ({c.candidate_only_passed} cases fixed, "
        f"{c.baseline_only_passed} broken): "
        + ("significant" if significant else f"not significant at {alpha:g}"),
        f"mean score delta {c.delta_mean:+.3f}, 95% CI [{c.ci_low:+.3f}, {c.ci_high:+.3f}]"
        + (" above 0" if ci_above_zero else " not above 0"),
        f"{len(c.regressions)} regressions (at most {max_regressions} allowed)",
    ]
    return Decision(all(checks.values()), checks, reasons)
