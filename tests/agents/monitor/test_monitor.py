"""The monitor agent: EWMA/z-score per app and signal against the real database, with minimum samples."""

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from metamon.agents.monitor.agent import monitor
from metamon.agents.monitor.ewma import Expectation, ewma, z_score
from metamon.monitoring.db.models import MonitorFinding, Project, Trace, TraceEvaluation

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_ewma_known_answers():
    assert ewma([0.0, 10.0], alpha=0.5) == Expectation(mean=5.0, std=5.0, points=2)
    flat = ewma([0.02] * 10, alpha=0.3)
    assert flat.mean == pytest.approx(0.02) and flat.std == pytest.approx(0.0)
    # A flat history is floored: 0.01 absolute, or 5% of the mean when that is larger.
    assert z_score(0.05, flat, abs_floor=0.01, rel_floor=0.05) == pytest.approx(3.0)
    assert z_score(110.0, Expectation(100.0, 0.0, 5), abs_floor=0.01, rel_floor=0.05) == pytest.approx(2.0)
    # A share counts the latest bucket's sampling error: 4 errors in 77 traces against a steady 1% is
    # noise, 30 in 300 is not.
    steady = Expectation(0.01, 0.0, 12)
    assert z_score(4 / 77, steady, abs_floor=0.01, rel_floor=0.05, samples=77) < 3
    assert z_score(4 / 77, steady, abs_floor=0.01, rel_floor=0.05) > 3
    assert z_score(30 / 300, steady, abs_floor=0.01, rel_floor=0.05, samples=300) > 3


def add_bucket(
    db, project: Project, app: str, age: int, n: int, errors: int, fact: float, latency: float
) -> None:
    """n traces in bucket `age` (0 = the latest 5 minutes), `errors` of them failed, fact accuracy `fact`."""
    traces = [
        Trace(
            id=uuid.uuid4(),
            project_id=project.id,
            external_id=f"{app}-{age}-{i}",
            timestamp=NOW - timedelta(minutes=5 * age + 1, seconds=i),
            app=app,
            status="error" if i < errors else "ok",
            latency_seconds=latency,
        )
        for i in range(n)
    ]
    db.add_all(traces)
    db.flush()
    db.add_all(
        TraceEvaluation(
            trace_id=t.id,
            project_id=project.id,
            evaluator="fact_accuracy",
            kind="code",
            score=fact,
            passed=fact >= 0.8,
        )
        for t in traces
    )
    db.flush()


def test_an_error_spike_and_a_quality_drop_are_found_with_enough_samples(db, settings):
    project = Project(slug="monitor-1", name="monitor-1")
    db.add(project)
    db.flush()
    for age in range(1, 9):  # 40 minutes of steady history: 1 error in 40, fact accuracy 0.95
        add_bucket(db, project, "steady", age, 40, errors=1, fact=0.95, latency=1.0)
        add_bucket(db, project, "spiky", age, 40, errors=1, fact=0.95, latency=1.0)
        add_bucket(db, project, "quiet", age, 5, errors=0, fact=0.95, latency=1.0)
    add_bucket(db, project, "steady", 0, 40, errors=1, fact=0.95, latency=1.0)
    add_bucket(db, project, "spiky", 0, 40, errors=12, fact=0.6, latency=4.0)
    add_bucket(db, project, "quiet", 0, 5, errors=5, fact=0.1, latency=9.0)

    findings = {(f.app, f.signal): f for f in monitor(db, settings, now=NOW)}
    spike = findings[("spiky", "error_ratio")]
    assert spike.anomalous and spike.value == pytest.approx(0.3) and spike.expected == pytest.approx(0.025)
    assert spike.z_score == pytest.approx((0.3 - 0.025) / math.sqrt(0.01**2 + 0.025 * 0.975 / 40))
    assert findings[("spiky", "fact_accuracy")].anomalous  # a drop: oriented so positive is worse
    assert findings[("spiky", "fact_accuracy")].z_score > 0
    assert findings[("spiky", "latency_p95")].anomalous
    assert not any(f.anomalous for (app, _), f in findings.items() if app == "steady")
    quiet = findings[("quiet", "error_ratio")]
    assert not quiet.anomalous and quiet.detail == "5 samples in the latest bucket"

    stored = db.scalars(select(MonitorFinding).where(MonitorFinding.project_id == project.id)).all()
    assert {(f.app, f.signal) for f in stored if f.anomalous} == {
        ("spiky", "error_ratio"),
        ("spiky", "fact_accuracy"),
        ("spiky", "latency_p95"),
    }
    # The next run replaces the findings rather than piling them up.
    monitor(db, settings, now=NOW)
    assert len(db.scalars(select(MonitorFinding).where(MonitorFinding.project_id == project.id)).all()) == 15
