"""The research agent end to end on the real test database: seeded traces -> proposal draft."""

import json
import logging
from dataclasses import asdict

import pytest
from sqlalchemy import text

from metamon.agents.research.agent import research
from tests.agents.research import scenarios
from tests.agents.research.data import add_traces, make_project
from tests.agents.research.scenarios import BASELINE, V7_REASON, WINDOW, T


def run(db, settings, project, metric, app=None, **kwargs):
    return research(
        db,
        settings,
        project_id=project,
        metric=metric,
        app=app,
        window_start=WINDOW[0],
        window_end=WINDOW[1],
        **kwargs,
    )


def test_a_new_prompt_version_that_fails_is_rolled_back(db, settings):
    project = make_project(db)
    scenarios.prompt_regression(db, project)

    draft = run(db, settings, project, "fact_accuracy", app="support-bot")

    assert draft.root_cause_key == "fact_accuracy|app=support-bot|prompt_version=v7"
    assert draft.proposal_type == "rollback_prompt_version"
    assert draft.recommended_change == {
        "app": "support-bot",
        "type": "rollback_prompt_version",
        "from_version": "v7",
        "to_version": "v6",
    }
    assert (draft.effort, draft.risk, draft.app) == ("low", "low", "support-bot")
    cause = draft.root_cause
    assert (cause["dimension"], cause["value"]) == ("prompt_version", "v7")
    assert (cause["window_traces"], cause["window_failures"], cause["baseline_traces"]) == (200, 120, 0)
    # v7 is new: compared with the whole baseline (70 failures in 1,400).
    assert cause["reference"] == "overall_baseline"
    assert cause["reference_failure_rate"] == pytest.approx(0.05)
    assert cause["lift"] == pytest.approx(12.0)
    assert cause["share_of_failures"] == pytest.approx(120 / 140, abs=1e-6)
    assert cause["p_value"] < 1e-12

    # By hand: 600 traces, 140 failures -> accuracy 460/600. Had v7 failed like the rest of the window
    # (20/400 = 5%), its 200 traces would fail 10 times: 30 failures, accuracy 570/600.
    assert draft.expected_improvement == pytest.approx(110 / 600, abs=1e-6)
    cf = draft.evidence["counterfactual"]
    assert cf["metric_now"] == pytest.approx(460 / 600, abs=1e-6)
    assert cf["metric_if_fixed"] == pytest.approx(0.95, abs=1e-6)
    assert cf["relative_change"] == pytest.approx((570 - 460) / 460, abs=1e-6)
    assert cf["assumed_from"] == "rest_of_window"
    assert draft.title.startswith(
        "Roll back the prompt from v7 to v6 for support-bot: fact accuracy 76.7% -> 95.0%"
    )

    ids = draft.evidence["trace_ids"]
    assert len(ids) == settings.research.evidence_traces == 20
    rows = db.execute(
        text(
            "SELECT t.app, t.prompt_version, t.timestamp, e.passed FROM traces t JOIN trace_evaluations e "
            "ON e.trace_id = t.id AND e.evaluator = 'fact_accuracy' WHERE t.id = ANY(CAST(:ids AS uuid[]))"
        ),
        {"ids": ids},
    ).all()
    assert len(rows) == 20
    assert all(r.app == "support-bot" and r.prompt_version == "v7" and r.passed is False for r in rows)
    assert all(WINDOW[0] <= r.timestamp < WINDOW[1] for r in rows)
    assert draft.evidence["reasons"] == [{"reason": V7_REASON, "count": 120}]
    assert draft.evidence["totals"] == {
        "window_traces": 600,
        "window_failures": 140,
        "baseline_traces": 1400,
        "baseline_failures": 70,
        "baseline_sampled_fraction": 1.0,
    }
    assert set(draft.evidence["segments"]) == {"prompt_version", "domain"}
    assert {r["dimension"] for r in draft.evidence["ruled_out"]} >= {"domain", "model", "app"}
    assert draft.confidence >= 0.75 and draft.evidence["confidence"]["level"] == "high"
    assert draft.root_cause["onset_explained"] and not draft.evidence["provisional"]
    assert draft.scope["baseline"] == {"start": BASELINE[0].isoformat(), "end": BASELINE[1].isoformat()}
    assert draft.narrative is None and draft.alternatives == []
    # Everything goes into JSON columns as it is.
    assert json.loads(json.dumps(asdict(draft)))["evidence"]["trace_ids"] == ids


def test_a_model_that_fails_is_switched_for_the_best_model_of_the_baseline(db, settings):
    project = make_project(db)
    scenarios.model_regression(db, project)

    draft = run(db, settings, project, "guardrail_pass")

    assert draft.root_cause_key == "guardrail_pass|model=gpt-4o-mini"
    assert draft.recommended_change == {
        "app": None,
        "type": "switch_model",
        "from_model": "gpt-4o-mini",
        "to_model": "claude-3-5-sonnet",
    }
    assert (draft.effort, draft.risk) == ("medium", "medium")
    assert draft.root_cause["reference"] == "value_baseline"
    assert draft.root_cause["reference_failure_rate"] == pytest.approx(42 / 700)
    # By hand: 118 failures in 600; gpt-4o-mini at its baseline 6% would fail 12 times, not 100.
    assert draft.expected_improvement == pytest.approx(88 / 600, abs=1e-6)
    assert draft.evidence["counterfactual"]["metric_if_fixed"] == pytest.approx(1 - 30 / 600, abs=1e-6)
    assert draft.evidence["guardrail_rules"] == [{"rule": "pii", "count": 100}]
    models = db.execute(
        text("SELECT DISTINCT model FROM traces WHERE id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": draft.evidence["trace_ids"]},
    ).scalars()
    assert list(models) == ["gpt-4o-mini"]


def test_noise_is_an_investigation_that_says_nothing_explains_it(db, settings):
    project = make_project(db)
    scenarios.noise(db, project)

    draft = run(db, settings, project, "fact_accuracy", app="support-bot")

    assert (
        draft.proposal_type == "investigate"
        and draft.root_cause_key == "fact_accuracy|app=support-bot|unexplained"
    )
    assert draft.risk != "low" and draft.confidence < 0.4 and draft.evidence["confidence"]["level"] == "low"
    assert "nothing explains the failures" in draft.evidence["why_unexplained"]
    assert draft.recommended_change["best_candidates"] and draft.recommended_change["ruled_out"]
    assert draft.expected_improvement == 0.0


def test_an_empty_window_gives_no_proposal(db, settings, caplog):
    project = make_project(db)
    with caplog.at_level(logging.INFO, logger="metamon.agents.research.agent"):
        assert run(db, settings, project, "error_ratio") is None
    assert "no failures in the window" in caplog.text


def test_long_inputs_that_fail_get_more_context(db, settings):
    project = make_project(db)
    for chars in (150, 600, 5000):
        add_traces(db, project, start=BASELINE[0], end=BASELINE[1], n=500, failures=20, input_chars=chars)
    add_traces(db, project, start=WINDOW[0], end=WINDOW[1], n=200, failures=8, input_chars=150)
    add_traces(db, project, start=WINDOW[0], end=WINDOW[1], n=200, failures=8, input_chars=600)
    add_traces(db, project, start=WINDOW[0], end=WINDOW[1], n=200, failures=90, input_chars=5000, top_k=4)

    draft = run(db, settings, project, "fact_accuracy", app="support-bot")

    # Bucket edges at the window's quantiles: the long third of the window is a bucket of its own.
    assert draft.root_cause_key == "fact_accuracy|app=support-bot|input_length=>=5000"
    assert draft.recommended_change == {
        "app": "support-bot",
        "type": "adjust_retrieval",
        "segment": {"input_length": ">=5000"},
        "top_k_from": 4,
        "top_k_to": 8,
        "chunk_long_inputs": True,
    }


def test_errors_in_one_domain_get_retries_and_a_fallback_model(db, settings):
    project = make_project(db)
    for domain in ("billing", "shipping"):
        for model in ("gpt-4o", "claude-3-5-sonnet"):
            add_traces(
                db,
                project,
                start=BASELINE[0],
                end=BASELINE[1],
                n=500,
                failures=10,
                evaluator="error",
                domain=domain,
                model=model,
                reason="Timeout",
            )
    add_traces(
        db, project, start=WINDOW[0], end=WINDOW[1], n=400, failures=8, evaluator="error", domain="billing"
    )
    add_traces(
        db,
        project,
        start=WINDOW[0],
        end=WINDOW[1],
        n=300,
        failures=90,
        evaluator="error",
        domain="shipping",
        reason="RateLimitError",
    )
    add_traces(
        db,
        project,
        start=WINDOW[0],
        end=WINDOW[1],
        n=100,
        failures=2,
        evaluator="error",
        domain="shipping",
        model="claude-3-5-sonnet",
    )

    draft = run(db, settings, project, "error_ratio", app="support-bot")

    assert draft.root_cause_key == "error_ratio|app=support-bot|domain=shipping"
    assert draft.recommended_change["type"] == "add_retry_and_fallback"
    assert draft.recommended_change["fallback_model"] == "claude-3-5-sonnet"
    assert draft.evidence["reasons"][0] == {"reason": "RateLimitError", "count": 90}
    # The error ratio is minimised: the expected improvement is the fall of the ratio.
    cf = draft.evidence["counterfactual"]
    assert cf["metric_if_fixed"] < cf["metric_now"] and draft.expected_improvement > 0
    assert cf["relative_change"] < 0


def test_windows_are_checked_and_metrics_known(db, settings):
    project = make_project(db)
    with pytest.raises(ValueError, match="unknown metric"):
        run(db, settings, project, "happiness")
    with pytest.raises(ValueError, match="window_end"):
        research(db, settings, project_id=project, metric="cost", window_start=T, window_end=T)
    with pytest.raises(ValueError, match="baseline_end"):
        run(db, settings, project, "cost", baseline_start=T, baseline_end=T)
