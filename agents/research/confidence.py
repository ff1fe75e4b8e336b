"""How far a proposal's evidence can be trusted, from 0 to 1, and its level (low / medium / high).

The product of four factors, each in [0, 1]:
- explained: the share of the window's excess failures (over the baseline rate) that fixing the cause
  would remove (the counterfactual);
- significance: the Bonferroni-corrected p-value, 1 from 1/1000 of the significance level down;
- onset: 1 when the cause explains when the failures began (it came in at the onset, or its own
  baseline was healthy), ONSET_UNEXPLAINED otherwise;
- sample size: the cause's window failures against twice the minimum sample.
A provisional proposal (too few traces yet) stays below high, an abstention below medium; auto-approval
needs high."""

import math

HIGH = 0.75
MEDIUM = 0.4
ONSET_UNEXPLAINED = 0.6
# Fewer traces than this many minimum samples in the window: the proposal is provisional.
PROVISIONAL_WINDOW_SAMPLES = 10


def level(confidence: float | None) -> str:
    if confidence is None:
        return "low"
    return "high" if confidence >= HIGH else "medium" if confidence >= MEDIUM else "low"


def significance_factor(p_corrected: float, significance: float) -> float:
    if p_corrected >= significance:
        return 0.0
    if p_corrected <= 0:
        return 1.0
    return min(1.0, math.log10(significance / p_corrected) / 3)


def score(
    *,
    explained: float,
    p_corrected: float,
    significance: float,
    onset_explained: bool,
    failures: int,
    min_samples: int,
) -> dict:
    factors = {
        "explained_share_of_excess_failures": round(min(max(explained, 0.0), 1.0), 6),
        "significance": round(significance_factor(p_corrected, significance), 6),
        "onset": 1.0 if onset_explained else ONSET_UNEXPLAINED,
        "sample_size": round(min(1.0, failures / (2 * min_samples)), 6),
    }
    return {"value": round(math.prod(factors.values()), 6), "factors": factors}


def provisional(window_traces: int, min_samples: int) -> bool:
    return window_traces < PROVISIONAL_WINDOW_SAMPLES * min_samples


def capped(value: float, *, provisional: bool, abstained: bool) -> float:
    if abstained:
        return min(value, MEDIUM - 0.01)
    if provisional:
        return min(value, HIGH - 0.01)
    return value
