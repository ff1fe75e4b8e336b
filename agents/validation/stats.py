"""Paired statistics of a replay: McNemar's exact test on pass/fail, a bootstrap interval on the mean
score delta (from metamon.monitoring.statistics), the per-case regression list and per-tag pass rates."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from metamon.agents.validation.replay import PairedCase
from metamon.monitoring.statistics.bootstrap import bootstrap_mean_ci
from metamon.monitoring.statistics.significance import mcnemar_exact

OUTPUT_EXCERPT = 300  # characters of the candidate's answer kept on a regression


@dataclass(frozen=True)
class Comparison:
    cases: int
    baseline_only_passed: int  # b: discordant pairs the candidate broke
    candidate_only_passed: int  # c: discordant pairs the candidate fixed
    p_value: float
    baseline_pass_rate: float
    candidate_pass_rate: float
    baseline_mean_score: float
    candidate_mean_score: float
    delta_mean: float
    ci_low: float
    ci_high: float
    regressions: list[dict]
    per_tag: dict[str, dict]


def regressions(pairs: Sequence[PairedCase], score_drop: float) -> list[dict]:
    """Cases that passed on the baseline and fail on the candidate, or whose score fell by more than
    `score_drop`, worst first."""
    found = []
    for pair in pairs:
        base, cand = pair.baseline, pair.candidate
        if base.passed and not cand.passed:
            kind = "pass_to_fail"
        elif base.score - cand.score > score_drop:
            kind = "score_drop"
        else:
            continue
        found.append(
            {
                "case_key": pair.case.case_key,
                "tags": list(pair.case.tags),
                "kind": kind,
                "baseline_passed": base.passed,
                "candidate_passed": cand.passed,
                "baseline_score": round(base.score, 4),
                "candidate_score": round(cand.score, 4),
                "score_delta": round(cand.score - base.score, 4),
                "reasons": cand.reasons,
                "candidate_output": cand.output[:OUTPUT_EXCERPT],
            }
        )
    return sorted(found, key=lambda r: (r["score_delta"], r["case_key"]))


def per_tag(pairs: Sequence[PairedCase], regressed: Sequence[dict]) -> dict[str, dict]:
    """Per tag: cases, pass rates and mean scores on both sides, their deltas, and the regressions."""
    groups: dict[str, list[PairedCase]] = defaultdict(list)
    for pair in pairs:
        for tag in pair.case.tags:
            groups[tag].append(pair)
    regressions_by_tag: dict[str, int] = defaultdict(int)
    for regression in regressed:
        for tag in regression["tags"]:
            regressions_by_tag[tag] += 1
    table = {}
    for tag, group in sorted(groups.items()):
        n = len(group)
        base_rate = sum(p.baseline.passed for p in group) / n
        cand_rate = sum(p.candidate.passed for p in group) / n
        base_mean = sum(p.baseline.score for p in group) / n
        cand_mean = sum(p.candidate.score for p in group) / n
        table[tag] = {
            "cases": n,
            "baseline_pass_rate": round(base_rate, 4),
            "candidate_pass_rate": round(cand_rate, 4),
            "pass_rate_delta": round(cand_rate - base_rate, 4),
            "baseline_mean_score": round(base_mean, 4),
            "candidate_mean_score": round(cand_mean, 4),
            "score_delta": round(cand_mean - base_mean, 4),
            "regressions": regressions_by_tag[tag],
        }
    return table


def compare(
    pairs: Sequence[PairedCase], *, score_drop: float = 0.1, resamples: int = 2000, seed: int = 0
) -> Comparison:
    if not pairs:
        raise ValueError("no cases to compare")
    n = len(pairs)
    b = sum(p.baseline.passed and not p.candidate.passed for p in pairs)
    c = sum(p.candidate.passed and not p.baseline.passed for p in pairs)
    deltas = [p.candidate.score - p.baseline.score for p in pairs]
    low, high = bootstrap_mean_ci(deltas, resamples=resamples, seed=seed)
    regressed = regressions(pairs, score_drop)
    return Comparison(
        cases=n,
        baseline_only_passed=b,
        candidate_only_passed=c,
        p_value=mcnemar_exact(b, c),
        baseline_pass_rate=sum(p.baseline.passed for p in pairs) / n,
        candidate_pass_rate=sum(p.candidate.passed for p in pairs) / n,
        baseline_mean_score=sum(p.baseline.score for p in pairs) / n,
        candidate_mean_score=sum(p.candidate.score for p in pairs) / n,
        delta_mean=sum(deltas) / n,
        ci_low=low,
        ci_high=high,
        regressions=regressed,
        per_tag=per_tag(pairs, regressed),
    )
