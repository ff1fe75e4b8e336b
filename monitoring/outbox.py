"""The transactional outbox: work recorded in the same transaction as the change that needs it.

A trace change writes a `trace.index` row next to the trace itself, so the search index can never
miss a committed trace: if Elasticsearch is down the row waits, and the indexer catches up.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import Outbox

TRACE_INDEX = "trace.index"
# A new firing alert waits here for the research agent (monitoring/workflow/worker.py).
ALERT_RESEARCH = "alert.research"
# A proposal moved to `validating` waits here for a worker to replay the golden dataset.
PROPOSAL_VALIDATION = "proposal.validate"


def enqueue_trace_index(session: Session, project_id: uuid.UUID, trace_ids: Iterable[uuid.UUID]) -> None:
    ids = [str(t) for t in trace_ids]
    if ids:
        session.execute(
            insert(Outbox).values(topic=TRACE_INDEX, aggregate_id=str(project_id), payload={"trace_ids": ids})
        )


@dataclass(frozen=True)
class Backlog:
    rows: int
    traces: int
    oldest_age_seconds: float


def backlog(session: Session, topic: str = TRACE_INDEX) -> Backlog:
    rows, traces, oldest = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(func.jsonb_array_length(Outbox.payload["trace_ids"])), 0),
            func.min(Outbox.created_at),
        ).where(Outbox.topic == topic, Outbox.processed_at.is_(None))
    ).one()
    age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    return Backlog(rows=rows, traces=int(traces), oldest_age_seconds=max(age, 0.0))


def claim(session: Session, topic: str, limit: int) -> list[Outbox]:
    """Pending rows of `topic` that are due, locked for this transaction; other workers skip them."""
    return list(
        session.scalars(
            select(Outbox)
            .where(
                Outbox.topic == topic, Outbox.processed_at.is_(None), Outbox.available_at <= datetime.now(UTC)
            )
            .order_by(Outbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def back_off(rows: list[Outbox], exc: Exception, max_seconds: float) -> None:
    """Keep the rows for a later attempt, exponentially later each time (0.5 s, 1 s, 2 s ... max)."""
    for row in rows:
        row.attempts += 1
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        row.available_at = datetime.now(UTC) + timedelta(
            seconds=min(max_seconds, 0.5 * 2 ** (row.attempts - 1))
        )


def mark_done(session: Session, rows: list[Outbox]) -> None:
    session.execute(
        update(Outbox).where(Outbox.id.in_([r.id for r in rows])).values(processed_at=datetime.now(UTC))
    )
