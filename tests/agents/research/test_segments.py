"""Per-dimension failure tables and the ranking, on seeded traces in the real database."""

import pytest
from sqlalchemy import text

from metamon.agents.research.metrics import get_metric
from metamon.agents.research.ranking import rank
from metamon.agents.research.segments import Counts, analyse
from tests.agents.research import scenarios
from tests.agents.research.data import add_traces, make_project
from tests.agents.research.scenarios import BASELINE, WINDOW

FACT = get_metric("fact_accuracy")


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
    # One model, one app, one input size and one source serve everything in both periods: not tested.
    for dimension in ("model", "app", "input_length", "retrieval_source"):
        (only,) = analysis.tables[dimension]
        assert only.constant and not only.tested
    assert len(analysis.tested()) == 4

    ranking = rank(analysis, significance=0.01, min_samples=30)
    assert [(s.dimension, s.value) for s in ranking.candidates] == [
        ("prompt_version", "v7"),
        ("domain", "billing"),
        ("domain", "shipping"),
    ]
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
    assert rank(analysis, 0.01, 30).candidates[0].value == "v7"


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
    assert rank(analysis, 0.01, 30).candidates[0].value == "gpt-5-nano"
