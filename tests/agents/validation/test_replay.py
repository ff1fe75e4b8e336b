"""Replaying the shipped dataset through the sample app in-process: the same evaluators score both
configs, and the paired comparison finds the better and the worse candidate."""

import asyncio

import pytest

from metamon.agents.validation.agent import select_evaluators
from metamon.agents.validation.golden import shipped_cases
from metamon.agents.validation.replay import replay
from metamon.agents.validation.stats import compare
from metamon.agents.validation.targets import CallableTarget
from metamon.monitoring.settings import Settings

BASELINE = {"prompt_version": "v1", "top_k": 2, "model": "gpt-4o-mini"}
GOOD = {"prompt_version": "v2", "top_k": 4, "model": "gpt-4o-mini"}
BAD = {"prompt_version": "v3", "top_k": 2, "model": "gpt-4o-mini"}


def run(candidate: dict, progress=None):
    evaluators, _ = select_evaluators(Settings())
    target = CallableTarget.from_spec("metamon.monitoring.demo.sample_app:answer")

    async def go():
        async with target:
            return await replay(
                shipped_cases(), target, BASELINE, candidate, evaluators, app="sample-app", progress=progress
            )

    return asyncio.run(go())


@pytest.fixture(scope="module")
def good():
    seen = []
    pairs = run(GOOD, progress=lambda done, total: seen.append((done, total)))
    return pairs, seen


def test_every_case_is_scored_by_both_evaluators_and_progress_counts_every_call(good):
    pairs, seen = good
    n = len(shipped_cases())
    assert len(pairs) == n
    assert [d for d, _ in seen] == list(range(1, 2 * n + 1)) and {t for _, t in seen} == {2 * n}
    for pair in pairs:
        for outcome in (pair.baseline, pair.candidate):
            assert set(outcome.scores) == {"fact_accuracy", "guardrails"}
            assert outcome.score == pytest.approx(sum(outcome.scores.values()) / 2)
            assert outcome.passed == (not outcome.reasons)


def test_the_good_candidate_fixes_the_multi_fact_cases(good):
    pairs, _ = good
    result = compare(pairs)
    assert result.candidate_pass_rate == 1.0
    assert result.baseline_pass_rate == pytest.approx(0.5)  # the easy half
    assert result.baseline_only_passed == 0 and result.candidate_only_passed == len(pairs) // 2
    assert result.p_value < 1e-15 and result.ci_low > 0
    assert result.regressions == []
    assert result.per_tag["hard"]["pass_rate_delta"] == 1.0
    assert result.per_tag["easy"]["pass_rate_delta"] == 0.0
    medium = next(p for p in pairs if "medium" in p.case.tags)
    assert medium.baseline.reasons["fact_accuracy"].startswith("1/2 facts stated")  # one sentence per passage


def test_the_bad_candidate_regresses_numbers_dates_and_leaks_contacts():
    pairs = run(BAD)
    result = compare(pairs)
    assert result.candidate_pass_rate < result.baseline_pass_rate
    assert result.ci_high < 0
    assert len(result.regressions) > 40
    tags = result.per_tag
    assert tags["has_date"]["candidate_pass_rate"] == 0.0 and tags["has_date"]["regressions"] > 0
    # quoted labels survive the rewrite better than figures do
    assert tags["has_quote"]["candidate_pass_rate"] > tags["has_number"]["candidate_pass_rate"]
    leaks = [r for r in result.regressions if "pii_in_context" in r["tags"]]
    assert leaks and all("pii" in r["reasons"]["guardrails"] for r in leaks)
    dated = next(r for r in result.regressions if "has_date" in r["tags"])
    assert dated["kind"] == "pass_to_fail" and "fact_accuracy" in dated["reasons"]


def test_a_failed_call_fails_its_case_with_the_reason():
    stalled = GOOD | {"faults": {"error_on": ["VAT"]}}
    pairs = run(stalled)
    failed = [p for p in pairs if p.candidate.error]
    assert failed and all("VAT" in p.case.input for p in failed)
    for pair in failed:
        assert not pair.candidate.passed and pair.candidate.score == 0.0
        assert pair.candidate.reasons == {"call": "RuntimeError: upstream model error (injected)"}
