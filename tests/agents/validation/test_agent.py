"""validate() end to end on the real test database: the decision and its evidence land in a
validation_results row, for the in-process and the HTTP form of the sample app."""

import time

import pytest
from sqlalchemy import select

from metamon.agents.validation.agent import NoGoldenCases, validate
from metamon.agents.validation.golden import shipped_cases
from metamon.monitoring.db.models import GoldenCase, ImprovementProposal, Project, ValidationResult
from metamon.monitoring.demo import sample_app
from tests.agents.validation.servers import serving

BASELINE = {"prompt_version": "v1", "top_k": 2}
GOOD = {"prompt_version": "v2", "top_k": 4}
BAD = {"prompt_version": "v3", "top_k": 2}
CALLABLE = "metamon.monitoring.demo.sample_app:answer"


@pytest.fixture
def proposal(db):
    project = Project(slug="validation-test", name="Validation test")
    db.add(project)
    db.flush()
    proposal = ImprovementProposal(
        project_id=project.id,
        proposal_type="change_retrieval",
        title="Raise top_k to 4 and keep every relevant sentence",
        app="sample-app",
        root_cause_key="fact_accuracy|prompt_version=v1",
    )
    db.add(proposal)
    db.flush()
    return proposal


def run(db, settings, proposal, candidate, target=CALLABLE, **kw) -> ValidationResult:
    row = validate(
        db,
        settings,
        project_id=proposal.project_id,
        proposal_id=proposal.id,
        app="sample-app",
        baseline_config=BASELINE,
        candidate_config=candidate,
        target=target,
        **kw,
    )
    db.expire_all()
    return db.scalar(select(ValidationResult).where(ValidationResult.id == row.id))


def test_a_good_candidate_is_validated(db, settings, proposal):
    seen = []
    row = run(db, settings, proposal, GOOD, progress=lambda done, total: seen.append(done))
    n = len(shipped_cases())
    assert row.proposal_id == proposal.id and row.status == "completed"
    assert row.case_count == n and seen[-1] == 2 * n
    assert row.passed is True
    assert row.mcnemar_p_value < 0.05 and row.score_delta_ci_low > 0
    assert row.score_delta_ci_low <= row.score_delta_mean <= row.score_delta_ci_high
    assert row.regressions == []
    assert row.finished_at is not None and row.finished_at >= row.started_at
    assert row.baseline_metrics["pass_rate"] == 0.5 and row.candidate_metrics["pass_rate"] == 1.0
    assert row.baseline_metrics["config"] == BASELINE and row.candidate_metrics["config"] == GOOD
    assert row.baseline_metrics["evaluators"]["guardrails"]["pass_rate"] == 1.0
    assert row.baseline_metrics["per_tag"]["hard"]["pass_rate"] == 0.0
    hard = row.candidate_metrics["per_tag"]["hard"]
    assert hard["pass_rate"] == 1.0 and hard["pass_rate_delta"] == 1.0 and hard["regressions"] == 0
    comparison = row.candidate_metrics["comparison"]
    assert comparison["evaluators"] == ["fact_accuracy", "guardrails"]
    assert comparison["candidate_only_passed"] == n // 2 and comparison["baseline_only_passed"] == 0
    assert comparison["decision"]["passed"] is True and comparison["decision"]["alpha"] == 0.05
    assert row.candidate_metrics["cost_usd"] > row.baseline_metrics["cost_usd"]  # it reads more passages


def test_a_bad_candidate_fails_with_its_regressions_per_case_and_tag(db, settings, proposal):
    row = run(db, settings, proposal, BAD)
    assert row.passed is False and row.status == "completed"
    assert row.candidate_metrics["pass_rate"] < row.baseline_metrics["pass_rate"]
    assert row.score_delta_ci_high < 0
    decision = row.candidate_metrics["comparison"]["decision"]
    assert decision["checks"] == {
        "pass_rate_not_lower": False,
        "improvement": False,
        "regressions_within_limit": False,
    }
    regression = next(r for r in row.regressions if r["kind"] == "pass_to_fail")
    assert set(regression) >= {
        "case_key",
        "tags",
        "baseline_score",
        "candidate_score",
        "reasons",
        "candidate_output",
    }
    assert regression["baseline_passed"] is True and regression["candidate_passed"] is False
    assert regression["score_delta"] < 0 and regression["reasons"]
    assert [r["score_delta"] for r in row.regressions] == sorted(r["score_delta"] for r in row.regressions)
    by_tag = row.candidate_metrics["per_tag"]
    assert sum(1 for r in row.regressions if "has_date" in r["tags"]) == by_tag["has_date"]["regressions"] > 0
    # Every answer that repeats contact details regresses: pass → fail, or a score drop on a failing case.
    leaks = [r for r in row.regressions if "pii_in_context" in r["tags"]]
    assert len(leaks) == by_tag["pii_in_context"]["regressions"] == by_tag["pii_in_context"]["cases"]
    assert {r["kind"] for r in leaks} == {"pass_to_fail", "score_drop"}
    assert all("pii" in r["reasons"]["guardrails"] for r in leaks)
    assert by_tag["has_date"]["pass_rate_delta"] < 0


def test_http_target_with_timeouts_counts_them_as_failed_cases(db, settings, proposal):
    settings = settings.model_copy(update={"validation_timeout_seconds": 0.5, "validation_concurrency": 16})
    candidate = GOOD | {"faults": {"stall_on": ["VAT"], "stall_seconds": 60}}
    with serving(sample_app.app) as base:
        started = time.perf_counter()
        row = run(db, settings, proposal, candidate, target=f"{base}/answer", tags=["billing"])
        elapsed = time.perf_counter() - started
    assert elapsed < 30  # the stalled calls (60 s) do not hold the run
    assert row.case_count == sum("billing" in c.tags for c in shipped_cases())
    stalled = [c.case_key for c in shipped_cases() if "VAT" in c.input]
    failures = row.candidate_metrics["call_failures"]
    assert sorted(f["case_key"] for f in failures) == sorted(stalled)
    assert {f["error"] for f in failures} == {"timeout after 0.5s"}
    assert row.baseline_metrics["call_failures"] == []
    # The stalled cases the baseline passed are the only regressions, with the timeout as the reason.
    assert {r["case_key"] for r in row.regressions} <= set(stalled)
    assert row.regressions and all(r["reasons"] == {"call": "timeout after 0.5s"} for r in row.regressions)
    assert row.passed is (len(row.regressions) <= settings.validation.max_regressions)
    assert row.candidate_metrics["comparison"]["target"] == f"{base}/answer"


def test_project_cases_and_tag_filters(db, settings, proposal):
    db.add(
        GoldenCase(
            project_id=proposal.project_id,
            case_key="trace:abc",
            app="sample-app",
            input="How long do refunds on legacy plans take?",
            retrieved_context=[{"source_id": "kb-9", "content": "Refunds on legacy plans take 21 days."}],
            reference={"expected_answer": "Refunds on legacy plans take 21 days.", "facts": []},
            tags=["legal", "expert"],
            source="expert_label",
        )
    )
    db.flush()
    row = run(db, settings, proposal, GOOD, tags=["legal"])
    assert row.case_count == sum("legal" in c.tags for c in shipped_cases()) + 1
    assert row.candidate_metrics["per_tag"]["expert"]["pass_rate"] == 1.0
    with pytest.raises(NoGoldenCases):
        run(db, settings, proposal, GOOD, tags=["no-such-tag"])
