"""Retention: delete what is older than `retention_days`, in small batches so no lock is held for long."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from elasticsearch import Elasticsearch
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from metamon.monitoring.search.indices import delete_trace_indices
from metamon.monitoring.settings import Settings

log = logging.getLogger(__name__)

BATCH = 5000
# Traces go by ingest time (created_at), like their monthly search indices; deleting one cascades to
# its spans, scores and labels. Golden cases keep their content (their source link is set to NULL).
_DELETES = {
    "traces": "created_at < :cutoff",
    "evaluation_runs": "created_at < :cutoff AND NOT is_baseline",
    "monitoring_alerts": "status = 'resolved' AND updated_at < :cutoff",
    "outbox": "processed_at < :cutoff",
    "scheduler_runs": "started_at < :cutoff",
}


@dataclass(frozen=True)
class RetentionReport:
    deleted: dict[str, int]
    indices: list[str]


def apply_retention(
    settings: Settings, sessions: sessionmaker[Session], es: Elasticsearch | None, now: datetime | None = None
) -> RetentionReport:
    cutoff = (now or datetime.now(UTC)) - timedelta(days=settings.retention_days)
    deleted = {}
    for table, condition in _DELETES.items():
        total = 0
        while True:
            with sessions() as session, session.begin():
                count = session.execute(
                    text(
                        f"DELETE FROM {table} WHERE ctid IN "
                        f"(SELECT ctid FROM {table} WHERE {condition} LIMIT {BATCH})"
                    ),
                    {"cutoff": cutoff},
                ).rowcount
            total += count
            if count < BATCH:
                break
        deleted[table] = total
    indices = delete_trace_indices(es, settings, older_than=cutoff) if es is not None else []
    log.info("retention", extra={"deleted": deleted, "indices": indices, "cutoff": cutoff.isoformat()})
    return RetentionReport(deleted, indices)
