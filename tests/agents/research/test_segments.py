"""Per-dimension failure tables and the ranking, on seeded traces in the real database."""

import pytest
from sqlalchemy import text

from metamon.agents.research.metrics import get_metric
from metamon.agents.research.onset import config_changes, find_onset
from metamon.agents.research.ranking import rank
from metamon.agents.research.segments import analyse
from metamon.monitoring.statistics.failures import Counts
from tests.agents.research import scenarios
from tests.agents.research.data import add_traces, make_project
from tests.agents.research.scenarios import BASELINE, WINDOW

FACT = get_metric("fact_accuracy")


def ranked(db, project, analysis, app="support-bot"):
    onset = find_onset(
        db,
        FACT,
        project_id=project,
        app=app,
        window=WINDOW,
        baseline=BASELINE,
        baseline_counts=analysis.baseline,
    )
    changes = config_changes(db, project, app)
    return rank(analysis, [], [], significance=0.01, min_samples=30, onset=onset, changes=changes)


def tables(db, project, app="support-bot", min_samples=30):
    return analyse(
        db, FACT, project_id=project, app=app, window=WINDOW, baseline=BASELINE, min_samples=min_samples
    )


def test_counts_stay_in_the_scope_and_the_two_windows(db):
    project = make_project(db)
    scenarios.prompt_regression(db, project)
    work_mem = db.execute(text("SHOW work_mem")).scalar()
    analysis = tables(db, project)
    # The query's own work_mem does not outlive it.
    assert db.execute(text("SHOW work_mem")).scalar() == work_mem

    assert (analysis.window, analysis.baseline) == (Counts(600, 140), Counts(1400, 70))
    v7, v6 = analysis.tables["prompt_version"]
    assert (v7.value, v7.window, v7.baseline, v7.reference) == (
        "v7",
        Counts(200, 120),
        Counts(0, 0),
        "overall_baseline",
    )
    assert (v6.value, v6.window, v6.baseline, v6.reference) == (
        "v6",
        Counts(400, 20),
        Counts(1400, 70),
        "value_baseline",
    )
    assert v6.lift == pytest.approx(1.0) and v6.p_value == pytest.approx(1.0)
    billing = analysis.segment("domain", "billing")
    assert billing.window == Counts(300, 70) and billing.lift == pytest.approx((70 / 300) / 0.05)
    assert billing.share == pytest.approx(0.5)
    # One model, one app, one size, one source and one top_k serve everything in both periods: skipped.
    assert set(analysis.skipped) == {
        "model",
        "app",
        "input_length",
        "output_length",
        "retrieval_source",
        "metadata.top_k",
    }
    assert set(analysis.tables) == {"prompt_version", "domain"}
    assert len(analysis.tested()) == 4

    ranking = ranked(db, project, analysis)
    assert [(v.segment.dimension, v.segment.value) for v in ranking.causes] == [("prompt_version", "v7")]
    # Both domains fail more than in the baseline, but no more than the rest of the window: where the
    # failures are is the prompt, not the domain.
    assert {v.segment.value: v.why_not.split(" (")[0] for v in ranking.ruled_out} == {
        "billing": "fails no more than the rest of the window",
        "shipping": "fails no more than the rest of the window",
    }
    assert ranking.threshold == pytest.approx(0.01 / 4)


def test_without_a_baseline_values_are_compared_with_the_rest_of_the_window(db):
    project = make_project(db)
    add_traces(db, project, start=WINDOW[0], end=WINDOW[1], n=400, failures=20)
    add_traces(db, project, start=WINDOW[0], end=WINDOW[1], n=200, failures=120, prompt_version="v7")
    add_traces(db, project, start=WINDOW[0], end=WINDOW[1], n=10, failures=10, prompt_version="v8")
    analysis = tables(db, project)

    v7 = analysis.segment("prompt_version", "v7")
    assert v7.reference == "rest_of_window" and v7.reference_rate == pytest.approx(30 / 410)
    # Too few traces to say anything: in the table, not tested.
    v8 = analysis.segment("prompt_version", "v8")
    assert v8.window == Counts(10, 10) and not v8.tested and v8.reference is None
    assert ranked(db, project, analysis).causes[0].segment.value == "v7"


def test_a_small_segment_is_never_tested(db):
    project = make_project(db)
    scenarios.prompt_regression(db, project)
    analysis = tables(db, project, min_samples=201)
    assert analysis.segment("prompt_version", "v7").p_value is None
    assert analysis.segment("prompt_version", "v6").reference == "value_baseline"


def test_a_value_that_replaced_the_whole_scope_is_still_a_suspect(db):
    """Every trace moved from gpt-4o to a new model: the model covers the window but not the baseline."""
    project = make_project(db)
    add_traces(db, project, start=BASELINE[0], end=BASELINE[1], n=1000, failures=50)
    add_traces(db, project, start=WINDOW[0], end=WINDOW[1], n=300, failures=90, model="gpt-5-nano")
    analysis = tables(db, project)
    (new_model,) = [s for s in analysis.tables["model"] if s.window.n]
    assert not new_model.constant and new_model.reference == "overall_baseline"
    # It serves the whole window, but it came in when the failures began: still the cause.
    assert ranked(db, project, analysis).causes[0].segment.value == "gpt-5-nano"
