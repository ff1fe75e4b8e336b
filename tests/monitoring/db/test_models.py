"""Model round trips through the real PostgreSQL, and the constraints that keep data honest."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from metamon.monitoring.db.models import (
    ApiKey,
    AppConfig,
    AuditLog,
    EvaluationRun,
    GoldenCase,
    ImprovementImpact,
    ImprovementProposal,
    MonitoringAlert,
    Outbox,
    Project,
    ReviewLabel,
    Span,
    Trace,
    TraceEvaluation,
    ValidationResult,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def project(db):
    project = Project(slug="acme", name="Acme")
    db.add(project)
    db.flush()
    return project


def _trace(project, external_id="t-1", **kw):
    return Trace(project_id=project.id, external_id=external_id, timestamp=NOW, **kw)


def test_trace_with_spans_round_trips_json_and_arrays(db, project):
    trace = _trace(
        project,
        app="support-bot",
        model="gpt-4o",
        input="What is the refund window?",
        output="30 days.",
        retrieved_context=[{"source_id": "kb-12", "content": "Refunds within 30 days."}],
        reference={"facts": ["30 days"]},
        latency_seconds=1.25,
        input_tokens=120,
        output_tokens=8,
        cost_usd=0.0021,
        tags=["prod", "eu"],
        metadata_={"region": "eu-west-1"},
        spans=[
            Span(span_id="a1", name="retrieve", kind="retrieval", start_time=NOW),
            Span(
                span_id="a2",
                parent_span_id="a1",
                name="chat",
                kind="llm",
                start_time=NOW + timedelta(seconds=1),
            ),
        ],
    )
    db.add(trace)
    project_id = project.id
    db.commit()
    db.expunge_all()

    loaded = db.scalar(select(Trace).where(Trace.project_id == project_id, Trace.external_id == "t-1"))
    assert loaded.retrieved_context[0]["source_id"] == "kb-12"
    assert loaded.reference == {"facts": ["30 days"]}
    assert loaded.tags == ["prod", "eu"]
    assert loaded.metadata_ == {"region": "eu-west-1"}
    assert loaded.status == "ok"
    assert [s.kind for s in loaded.spans] == ["retrieval", "llm"]
    assert loaded.created_at is not None


def test_client_trace_id_is_unique_per_project_only(db, project):
    other = Project(slug="other", name="Other")
    db.add_all([other, _trace(project, "same-id")])
    db.flush()
    db.add(_trace(other, "same-id"))  # another project may reuse the id
    db.flush()
    with pytest.raises(IntegrityError):
        db.add(_trace(project, "same-id"))
        db.flush()


@pytest.mark.parametrize(
    "bad",
    [
        lambda p: _trace(p, status="exploded"),
        lambda p: ReviewLabel(project_id=p.id, trace_id=None, reviewer="r", label="maybe"),
        lambda p: ApiKey(project_id=p.id, prefix="x", secret_hash="h", scopes=["root"]),
        lambda p: MonitoringAlert(fingerprint="f", alertname="A", severity="apocalyptic", starts_at=NOW),
    ],
    ids=["trace-status", "review-label", "key-scope", "alert-severity"],
)
def test_check_constraints_refuse_unknown_values(db, project, bad):
    with pytest.raises(IntegrityError):
        db.add(bad(project))
        db.flush()


def test_alert_occurrence_is_unique_by_fingerprint_and_start(db):
    db.add(
        MonitoringAlert(fingerprint="abc", alertname="MetamonFactAccuracyLow", severity="high", starts_at=NOW)
    )
    db.add(
        MonitoringAlert(
            fingerprint="abc",
            alertname="MetamonFactAccuracyLow",
            severity="high",
            starts_at=NOW + timedelta(hours=1),
        )
    )
    db.flush()
    with pytest.raises(IntegrityError):
        db.add(
            MonitoringAlert(
                fingerprint="abc", alertname="MetamonFactAccuracyLow", severity="high", starts_at=NOW
            )
        )
        db.flush()


def test_one_open_proposal_per_root_cause(db, project):
    def proposal(status="pending"):
        return ImprovementProposal(
            project_id=project.id,
            status=status,
            proposal_type="rollback_prompt",
            title="Roll back v7",
            root_cause_key="fact_accuracy|prompt_version=v7",
        )

    first = proposal()
    db.add(first)
    db.flush()
    with db.begin_nested(), pytest.raises(IntegrityError):
        db.add(proposal())
        db.flush()
    first.status = "rejected"  # once closed, the same cause may be proposed again
    db.flush()
    db.add(proposal())
    db.flush()
    count = db.scalar(
        select(func.count())
        .select_from(ImprovementProposal)
        .where(ImprovementProposal.project_id == project.id)
    )
    assert count == 2


def test_proposal_lifecycle_rows_link_together(db, project):
    trace = _trace(project)
    alert = MonitoringAlert(
        project_id=project.id,
        fingerprint="f1",
        alertname="MetamonFactAccuracyLow",
        severity="critical",
        starts_at=NOW,
        labels={"app": "support-bot"},
    )
    db.add_all([trace, alert])
    db.flush()
    proposal = ImprovementProposal(
        project_id=project.id,
        alert_id=alert.id,
        proposal_type="switch_model",
        title="Switch model",
        root_cause_key="k",
        evidence={"trace_ids": [str(trace.id)]},
    )
    db.add(proposal)
    db.flush()
    rows = [
        TraceEvaluation(
            trace_id=trace.id,
            project_id=project.id,
            evaluator="fact_accuracy",
            kind="code",
            score=0.5,
            passed=False,
            reason="missing: 30 days",
        ),
        EvaluationRun(
            project_id=project.id,
            app="support-bot",
            window_start=NOW - timedelta(hours=1),
            window_end=NOW,
            trace_count=1,
            fact_accuracy=0.5,
            delta_previous={"fact_accuracy": -0.1},
        ),
        ValidationResult(proposal_id=proposal.id, case_count=100, mcnemar_p_value=0.01, passed=True),
        ImprovementImpact(proposal_id=proposal.id, metric="fact_accuracy", before_value=0.8, after_value=0.9),
        AppConfig(project_id=project.id, app="support-bot", version=1, config={"model": "a"}, is_active=True),
        GoldenCase(
            project_id=project.id,
            case_key="g1",
            input="q",
            reference={"facts": ["f"]},
            source="expert_label",
            source_trace_id=trace.id,
        ),
        ReviewLabel(project_id=project.id, trace_id=trace.id, reviewer="ann", label="fail", confidence=0.9),
        AuditLog(
            project_id=project.id,
            actor="ann",
            action="approve",
            entity_type="proposal",
            entity_id=str(proposal.id),
            after={"status": "approved"},
        ),
    ]
    outbox = Outbox(topic="trace.index", aggregate_id=str(trace.id), payload={"trace_ids": [str(trace.id)]})
    db.add_all([*rows, outbox])
    db.flush()
    with db.begin_nested(), pytest.raises(IntegrityError):  # only one active config per app
        db.add(AppConfig(project_id=project.id, app="support-bot", version=2, is_active=True))
        db.flush()

    # Deleting the project removes everything that belongs to it.
    owned = [(type(obj), obj.id) for obj in (trace, alert, proposal, *rows)]
    db.delete(project)
    db.flush()
    db.expunge_all()
    for model, pk in owned:
        assert db.get(model, pk) is None, model.__name__
    # The outbox is keyed by aggregate, not project: the indexer skips traces that are gone.
    assert db.get(Outbox, outbox.id) is not None
