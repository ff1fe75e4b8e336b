"""The transactional outbox: work recorded in the same transaction as the change that needs it.

A trace change writes a `trace.index` row next to the trace itself, so the search index can never
miss a committed trace: if Elasticsearch is down the row waits, and the indexer catches up. A trace
Elasticsearch refuses for what it holds is set aside as a dead letter, so the rest of its group goes on.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from metamon.monitoring.db.base import among
from metamon.monitoring.db.models import IndexDeadLetter, Outbox

ERROR_LIMIT = 2000  # characters of an error kept on a row

TRACE_INDEX = "trace.index"
# A new firing alert waits here for the research agent (monitoring/workflow/worker.py).
ALERT_RESEARCH = "alert.research"
# A proposal moved to `validating` waits here for a worker to replay the golden dataset.
PROPOSAL_VALIDATION = "proposal.validate"


def enqueue_trace_index(
    session: Session,
    project_id: uuid.UUID,
    trace_ids: Iterable[uuid.UUID],
    *,
    attempts: int = 0,
    last_error: str | None = None,
    max_backoff_seconds: float = 0.0,
) -> None:
    """Queue the traces for indexing; a retry (`attempts` > 0) becomes due after its back-off."""
    ids = [str(t) for t in trace_ids]
    if ids:
        values = {"topic": TRACE_INDEX, "aggregate_id": str(project_id), "payload": {"trace_ids": ids}}
        if attempts:
            values |= {
                "attempts": attempts,
                "last_error": last_error,
                "available_at": datetime.now(UTC) + _delay(attempts, max_backoff_seconds),
            }
        session.execute(insert(Outbox).values(**values))


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


def claim(session: Session, topic: str, limit: int, after_id: int = 0) -> list[Outbox]:
    """Pending rows of `topic` that are due (past `after_id`), locked for this transaction; other
    workers skip them."""
    return list(
        session.scalars(
            select(Outbox)
            .where(
                Outbox.topic == topic,
                Outbox.processed_at.is_(None),
                Outbox.available_at <= datetime.now(UTC),
                Outbox.id > after_id,
            )
            .order_by(Outbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def claim_traces(session: Session, max_rows: int, max_traces: int) -> list[Outbox]:
    """Pending `trace.index` rows, one at a time until they hold `max_traces` traces (always at least
    one row): an export of 512 spans is one row, so a fixed row count would let one indexer take the
    whole backlog while the others wait."""
    rows: list[Outbox] = []
    traces = 0
    while len(rows) < max_rows and traces < max_traces:
        # Rows this transaction locked are not skipped by SKIP LOCKED: claim past the last one.
        row = claim(session, TRACE_INDEX, 1, after_id=rows[-1].id if rows else 0)
        if not row:
            break
        rows += row
        traces += len(row[0].payload.get("trace_ids", []))
    return rows


def _delay(attempts: int, max_seconds: float) -> timedelta:
    """Exponentially later at each attempt: 0.5 s, 1 s, 2 s ... max."""
    return timedelta(seconds=min(max_seconds, 0.5 * 2 ** (attempts - 1)))


def back_off(rows: list[Outbox], exc: Exception, max_seconds: float) -> None:
    """Keep the rows for a later attempt, exponentially later each time."""
    for row in rows:
        row.attempts += 1
        row.last_error = f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]
        row.available_at = datetime.now(UTC) + _delay(row.attempts, max_seconds)


def mark_done(session: Session, rows: list[Outbox]) -> None:
    session.execute(
        update(Outbox).where(Outbox.id.in_([r.id for r in rows])).values(processed_at=datetime.now(UTC))
    )


@dataclass(frozen=True)
class Refusal:
    """Elasticsearch's answer for one document it would not index."""

    trace_id: uuid.UUID
    project_id: uuid.UUID
    status: int
    reason: str


def dead_letter(session: Session, refusals: list[Refusal]) -> None:
    """Set the refused traces aside with the reason; refused again, a dead letter counts the failure."""
    if not refusals:
        return
    statement = pg_insert(IndexDeadLetter).values(
        [
            {"trace_id": r.trace_id, "project_id": r.project_id, "status": r.status, "reason": r.reason}
            for r in sorted(refusals, key=lambda r: r.trace_id)  # one lock order
        ]
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[IndexDeadLetter.trace_id],
            set_={
                "status": statement.excluded.status,
                "reason": statement.excluded.reason,
                "failures": IndexDeadLetter.failures + 1,
                "last_failed_at": func.now(),
            },
        )
    )


def clear_dead_letters(session: Session, trace_ids: list[uuid.UUID]) -> None:
    """Indexed at last (re-sent with better content, or retried): no longer a dead letter."""
    if trace_ids:
        session.execute(delete(IndexDeadLetter).where(among(IndexDeadLetter.trace_id, trace_ids)))


def dead_letters(session: Session, project_id: uuid.UUID | None = None, limit: int = 100) -> list:
    query = select(IndexDeadLetter).order_by(IndexDeadLetter.last_failed_at.desc()).limit(limit)
    if project_id is not None:
        query = query.where(IndexDeadLetter.project_id == project_id)
    return list(session.scalars(query))


def retry_dead_letters(session: Session, project_id: uuid.UUID | None = None) -> int:
    """Queue every dead letter (of one project, or all) for indexing again; they stay listed until
    indexed, and come back with the new reason if refused again. Returns how many were queued."""
    query = select(IndexDeadLetter.project_id, IndexDeadLetter.trace_id)
    if project_id is not None:
        query = query.where(IndexDeadLetter.project_id == project_id)
    by_project: dict[uuid.UUID, list[uuid.UUID]] = {}
    for project, trace_id in session.execute(query):
        by_project.setdefault(project, []).append(trace_id)
    for project, trace_ids in by_project.items():
        enqueue_trace_index(session, project, trace_ids)
    return sum(len(ids) for ids in by_project.values())
