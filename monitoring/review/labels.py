"""Recording labels (upsert per trace and reviewer), reflecting them into the index, and statistics."""

import uuid
from collections import Counter, defaultdict
from itertools import combinations

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import AuditLog, ReviewLabel, Trace
from metamon.monitoring.outbox import enqueue_trace_index
from metamon.monitoring.review.agreement import cohens_kappa


class TraceNotFound(LookupError):
    pass


def record_label(
    session: Session,
    project_id: uuid.UUID,
    trace_id: uuid.UUID,
    reviewer: str,
    label: str,
    confidence: float,
    notes: str,
    issue_categories: list[str],
) -> ReviewLabel:
    if session.scalar(select(Trace.id).where(Trace.id == trace_id, Trace.project_id == project_id)) is None:
        raise TraceNotFound(trace_id)
    values = {
        "project_id": project_id,
        "trace_id": trace_id,
        "reviewer": reviewer,
        "label": label,
        "confidence": confidence,
        "notes": notes,
        "issue_categories": sorted(set(issue_categories)),
    }
    stmt = pg_insert(ReviewLabel).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ReviewLabel.trace_id, ReviewLabel.reviewer],
        set_={k: stmt.excluded[k] for k in ("label", "confidence", "notes", "issue_categories")}
        | {"updated_at": func.now()},
    ).returning(ReviewLabel.id)
    label_id = session.execute(stmt).scalar_one()
    session.add(
        AuditLog(
            project_id=project_id,
            actor=reviewer,
            action="label",
            entity_type="trace",
            entity_id=str(trace_id),
            after={"label": label, "confidence": confidence},
        )
    )
    enqueue_trace_index(session, project_id, [trace_id])  # labels are searchable
    session.flush()
    return session.get(ReviewLabel, label_id, populate_existing=True)


def label_stats(session: Session, project_id: uuid.UUID) -> dict:
    rows = session.execute(
        select(
            ReviewLabel.trace_id, ReviewLabel.reviewer, ReviewLabel.label, ReviewLabel.issue_categories
        ).where(ReviewLabel.project_id == project_id)
    ).all()
    by_trace: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
    for trace_id, reviewer, label, _ in rows:
        by_trace[trace_id][reviewer] = label
    reviewers = sorted({r for _, r, _, _ in rows})
    agreement = []
    for a, b in combinations(reviewers, 2):
        pairs = [(labels[a], labels[b]) for labels in by_trace.values() if a in labels and b in labels]
        if pairs:
            kappa = cohens_kappa(pairs)
            agreement.append(
                {
                    "reviewers": [a, b],
                    "shared_traces": len(pairs),
                    "kappa": round(kappa, 4) if kappa is not None else None,
                    "raw_agreement": round(sum(x == y for x, y in pairs) / len(pairs), 4),
                }
            )
    return {
        "total_labels": len(rows),
        "labelled_traces": len(by_trace),
        "by_label": dict(Counter(label for _, _, label, _ in rows)),
        "by_reviewer": {r: dict(Counter(label for _, rr, label, _ in rows if rr == r)) for r in reviewers},
        "by_category": dict(Counter(c for *_, cats in rows for c in cats)),
        "agreement": agreement,
    }
