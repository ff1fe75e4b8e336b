"""The transactional outbox: work recorded in the same transaction as the change that needs it.

A trace change writes a `trace.index` row next to the trace itself, so the search index can never
miss a committed trace: if Elasticsearch is down the row waits, and the indexer catches up.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from monitoring.db.models import Outbox

TRACE_INDEX = "trace.index"


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
