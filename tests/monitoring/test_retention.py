"""Retention deletes what is older than `retention_days`, and drops monthly indices wholly older."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from metamon.monitoring.db.models import EvaluationRun, MonitoringAlert, Project, Span, Trace
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.retention import apply_retention
from metamon.monitoring.search.indices import index_name, trace_indices


def test_old_rows_and_indices_go_recent_ones_and_baselines_stay(settings, es):
    now = datetime.now(UTC)
    old = now - timedelta(days=settings.retention_days + 5)
    with session_scope(settings.database.url) as session:
        project = Project(slug="retention-1", name="retention-1")
        session.add(project)
        session.flush()
        traces = [
            Trace(id=uuid.uuid4(), project_id=project.id, external_id=f"r-{i}", timestamp=now, app="a")
            for i in range(3)
        ]
        session.add_all(traces)
        session.flush()
        session.add(Span(trace_id=traces[0].id, span_id="s", name="llm", start_time=now))
        session.execute(
            update(Trace).where(Trace.id.in_([traces[0].id, traces[1].id])).values(created_at=old)
        )
        for hour, baseline in enumerate((False, True)):
            session.add(
                EvaluationRun(
                    project_id=project.id,
                    app="a",
                    window_start=old + timedelta(hours=hour),
                    window_end=old + timedelta(hours=hour + 1),
                    is_baseline=baseline,
                    created_at=old,
                )
            )
        session.add_all(
            MonitoringAlert(
                project_id=project.id,
                fingerprint=f"fp-{status}",
                alertname="X",
                severity="high",
                status=status,
                starts_at=old,
                updated_at=old,
            )
            for status in ("resolved", "firing")
        )
    stale_index = index_name(settings, now - timedelta(days=400))
    es.indices.create(index=stale_index)

    report = apply_retention(settings, session_factory(settings.database.url), es)
    assert report.deleted["traces"] >= 2 and report.deleted["evaluation_runs"] >= 1
    assert stale_index in report.indices and stale_index not in trace_indices(es, settings)
    assert index_name(settings, now) in trace_indices(es, settings)
    with session_scope(settings.database.url) as session:
        left = session.scalars(select(Trace.external_id).where(Trace.project_id == project.id)).all()
        assert left == ["r-2"]
        assert (
            session.scalar(select(func.count()).select_from(Span).where(Span.trace_id == traces[0].id)) == 0
        )
        runs = session.scalars(
            select(EvaluationRun.is_baseline).where(EvaluationRun.project_id == project.id)
        )
        assert list(runs) == [True]
        alerts = session.scalars(
            select(MonitoringAlert.status).where(MonitoringAlert.project_id == project.id)
        )
        assert list(alerts) == ["firing"]
