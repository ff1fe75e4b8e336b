"""Known answers for a replay's comparison: the regression list, per-tag rates and the verdict."""

import pytest

from metamon.agents.validation.decision import decide
from metamon.agents.validation.golden import Case
from metamon.agents.validation.replay import Outcome, PairedCase
from metamon.agents.validation.stats import compare


def _pair(key, tags, base, cand) -> PairedCase:
    """base/cand: (passed, score)."""
    case = Case(case_key=key, input="q", reference={"facts": ["x"]}, tags=tags)
    return PairedCase(
        case,
        Outcome(base[0], base[1], "baseline answer"),
        Outcome(cand[0], cand[1], "candidate answer", reasons={} if cand[0] else {"fact_accuracy": "0/1"}),
    )


def test_compare_lists_regressions_worst_first_and_rates_per_tag():
    pairs = [
        _pair("a", ("billing", "easy"), (True, 1.0), (False, 0.0)),  # pass -> fail
        _pair("b", ("billing", "hard"), (False, 0.8), (False, 0.5)),  # score drop of 0.3
        _pair("c", ("legal", "easy"), (False, 0.8), (False, 0.75)),  # small drop: not a regression
        _pair("d", ("legal", "hard"), (False, 0.0), (True, 1.0)),  # fixed
        _pair("e", ("legal", "easy"), (True, 1.0), (True, 1.0)),
    ]
    result = compare(pairs, score_drop=0.1, resamples=500)
    assert [(r["case_key"], r["kind"]) for r in result.regressions] == [
        ("a", "pass_to_fail"),
        ("b", "score_drop"),
    ]
    assert result.regressions[0]["reasons"] == {"fact_accuracy": "0/1"}
    assert result.regressions[0]["tags"] == ["billing", "easy"]
    assert (result.baseline_only_passed, result.candidate_only_passed) == (1, 1)
    assert result.p_value == 1.0
    assert result.baseline_pass_rate == result.candidate_pass_rate == 0.4
    assert result.delta_mean == pytest.approx((-1.0 - 0.3 - 0.05 + 1.0 + 0.0) / 5)
    billing, legal = result.per_tag["billing"], result.per_tag["legal"]
    assert billing["cases"] == 2 and billing["regressions"] == 2
    assert billing["baseline_pass_rate"] == 0.5 and billing["candidate_pass_rate"] == 0.0
    assert billing["pass_rate_delta"] == -0.5
    assert legal["cases"] == 3 and legal["regressions"] == 0
    assert legal["pass_rate_delta"] == pytest.approx(1 / 3, abs=1e-4)
    assert result.per_tag["easy"]["regressions"] == 1


def _many(fixed: int, broken: int, same: int) -> list[PairedCase]:
    return (
        [_pair(f"f{i}", ("t",), (False, 0.0), (True, 1.0)) for i in range(fixed)]
        + [_pair(f"b{i}", ("t",), (True, 1.0), (False, 0.0)) for i in range(broken)]
        + [_pair(f"s{i}", ("t",), (True, 1.0), (True, 1.0)) for i in range(same)]
    )


def test_decision_passes_a_significant_improvement_with_few_regressions():
    decision = decide(compare(_many(12, 1, 50)), alpha=0.05, max_regressions=2)
    assert decision.passed and all(decision.checks.values())
    assert any("significant" in r for r in decision.reasons)


def test_decision_refuses_too_many_regressions_even_when_significant():
    decision = decide(compare(_many(30, 3, 50)), alpha=0.05, max_regressions=2)
    assert not decision.passed
    assert decision.checks == {
        "pass_rate_not_lower": True,
        "improvement": True,
        "regressions_within_limit": False,
    }


def test_decision_refuses_no_change_and_a_lower_pass_rate():
    unchanged = decide(compare(_many(0, 0, 40)), alpha=0.05, max_regressions=2)
    assert not unchanged.passed and unchanged.checks["improvement"] is False
    worse = decide(compare(_many(1, 2, 40)), alpha=0.05, max_regressions=5)
    assert not worse.passed and worse.checks["pass_rate_not_lower"] is False
