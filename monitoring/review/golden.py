"""Promoting a reviewed trace into the golden dataset the validation agent replays."""

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import AuditLog, GoldenCase, ReviewLabel, Trace
from metamon.monitoring.review.labels import TraceNotFound


class NotPromotable(ValueError):
    pass


def promote(
    session: Session,
    project_id: uuid.UUID,
    trace_id: uuid.UUID,
    actor: str,
    reference: dict | None,
    tags: list[str],
) -> GoldenCase:
    """The case's reference is, in order: the one given, the trace's own, or its output when a
    reviewer labelled it `pass`. Promoting the same trace again updates its case."""
    trace = session.scalar(select(Trace).where(Trace.id == trace_id, Trace.project_id == project_id))
    if trace is None:
        raise TraceNotFound(trace_id)
    labels = set(session.scalars(select(ReviewLabel.label).where(ReviewLabel.trace_id == trace_id)))
    if not labels:
        raise NotPromotable("only a labelled trace can become a golden case")
    if reference is None:
        reference = trace.reference
    if reference is None and "pass" in labels:
        reference = {"expected_answer": trace.output, "facts": []}
    if reference is None:
        raise NotPromotable("this trace has no reference and no `pass` label: give the expected answer")
    values = {
        "project_id": project_id,
        "case_key": f"trace:{trace.external_id}",
        "app": trace.app,
        "input": trace.input,
        "retrieved_context": trace.retrieved_context,
        "reference": reference,
        "tags": sorted({*tags, *(trace.tags or [])}),
        "source": "expert_label",
        "source_trace_id": trace.id,
    }
    stmt = pg_insert(GoldenCase).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[GoldenCase.project_id, GoldenCase.case_key],
        set_={k: stmt.excluded[k] for k in ("input", "retrieved_context", "reference", "tags")},
    ).returning(GoldenCase.id)
    case_id = session.execute(stmt).scalar_one()
    session.add(
        AuditLog(
            project_id=project_id,
            actor=actor,
            action="promote_golden",
            entity_type="trace",
            entity_id=str(trace_id),
            after={"golden_case_id": str(case_id)},
        )
    )
    session.flush()
    return session.get(GoldenCase, case_id, populate_existing=True)
