"""Drains `trace.index` outbox rows into Elasticsearch with bulk requests.

Workers claim rows with FOR UPDATE SKIP LOCKED, so any number of them can run side by side. The
document id is the trace id, so indexing twice overwrites: a trace is in the index exactly once.
When Elasticsearch fails, the rows stay pending and come back after an exponential back-off. When it
refuses single documents, only those are held back: a refusal for what the document holds (4xx, say a
mapping error) makes it a dead letter with Elasticsearch's reason, a refusal for load (429, 5xx) queues
it again after a back-off; the rest of the group is indexed and its rows are done.
"""

import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

from elasticsearch import Elasticsearch, helpers
from sqlalchemy import ARRAY, any_, bindparam, select
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import Session, sessionmaker

from metamon.monitoring.db.models import ReviewLabel, Span, Trace, TraceEvaluation
from metamon.monitoring.outbox import (
    ERROR_LIMIT,
    TRACE_INDEX,
    Refusal,
    back_off,
    claim,
    clear_dead_letters,
    dead_letter,
    enqueue_trace_index,
    mark_done,
)
from metamon.monitoring.search.documents import trace_document
from metamon.monitoring.search.indices import ensure_indices, index_name
from metamon.monitoring.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrainResult:
    rows: int
    documents: int
    failed: bool


def _group_by_trace(rows) -> dict[uuid.UUID, list]:
    grouped: dict[uuid.UUID, list] = defaultdict(list)
    for row in rows:
        grouped[row.trace_id].append(row)
    return grouped


def _among(column, ids: list[uuid.UUID]):
    """`column = ANY(:ids)` with one array parameter: an IN list of thousands of ids costs more to
    render and parse than the query costs to run."""
    return column == any_(bindparam("ids", ids, type_=ARRAY(PG_UUID(as_uuid=True))))


# Plain rows, not ORM objects: building thousands of instances per batch costs more than the query.
_TRACE_COLUMNS = [c.label("metadata_") if c.name == "metadata" else c for c in Trace.__table__.columns]
# What a document holds of a span (not its attributes: decoding them cost more than the rest).
_SPAN_COLUMNS = [Span.trace_id, Span.span_id, Span.name, Span.kind, Span.status, Span.input, Span.output]


def load_documents(session: Session, settings: Settings, trace_ids: list[uuid.UUID]) -> list[dict]:
    traces = session.execute(select(*_TRACE_COLUMNS).where(_among(Trace.__table__.c.id, trace_ids))).all()
    spans = _group_by_trace(
        session.execute(
            select(*_SPAN_COLUMNS).where(_among(Span.trace_id, trace_ids)).order_by(Span.start_time)
        ).all()
    )
    evals = _group_by_trace(
        session.scalars(select(TraceEvaluation).where(_among(TraceEvaluation.trace_id, trace_ids)))
    )
    labels = _group_by_trace(
        session.scalars(select(ReviewLabel).where(_among(ReviewLabel.trace_id, trace_ids)))
    )
    return [
        {
            "_op_type": "index",
            "_index": index_name(settings, t.created_at),
            "_id": str(t.id),
            "_source": trace_document(t, spans[t.id], evals[t.id], labels[t.id]),
        }
        for t in traces  # a trace deleted since it was queued is simply gone
    ]


def _reason(error: dict | str) -> str:
    """`type: reason (caused by type: reason)`, each part cut short: a reason may quote the whole value."""
    if not isinstance(error, dict):
        return str(error)[:500]
    text = f"{error.get('type', 'error')}: {str(error.get('reason', ''))[:500]}"
    return f"{text} (caused by {_reason(error['caused_by'])})" if error.get("caused_by") else text


def _refusals(errors: list[dict], actions: list[dict]) -> list[Refusal]:
    """The bulk response's per-document errors, each with its trace's project."""
    projects = {a["_id"]: a["_source"]["project_id"] for a in actions}
    refusals = []
    for error in errors:
        item = next(iter(error.values()))
        reason = _reason(item.get("error", {}))[:ERROR_LIMIT]
        refusals.append(
            Refusal(uuid.UUID(item["_id"]), uuid.UUID(projects[item["_id"]]), item["status"], reason)
        )
    return refusals


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def drain_once(settings: Settings, es: Elasticsearch, sessions: sessionmaker[Session]) -> DrainResult:
    """Claim up to one batch of pending rows, index their traces, and mark them done (or back off)."""
    with sessions() as session, session.begin():
        rows = claim(session, TRACE_INDEX, settings.search.indexer_claim_rows)
        if not rows:
            return DrainResult(0, 0, failed=False)
        trace_ids = list({uuid.UUID(t) for row in rows for t in row.payload.get("trace_ids", [])})
        try:
            actions = load_documents(session, settings, trace_ids)
            _, errors = helpers.bulk(es, actions, raise_on_error=False, refresh=False)
        except Exception as exc:  # Elasticsearch down or refusing the request: keep the rows, retry later
            back_off(rows, exc, settings.search.indexer_max_backoff_seconds)
            log.warning(
                "indexing failed; %d outbox rows back off", len(rows), extra={"error": str(exc)[:500]}
            )
            return DrainResult(len(rows), 0, failed=True)
        refusals = _refusals(errors, actions)
        later = [r for r in refusals if _retryable(r.status)]
        dead = [r for r in refusals if not _retryable(r.status)]
        dead_letter(session, dead)
        attempts = max(row.attempts for row in rows) + 1
        for project in {r.project_id for r in later}:
            enqueue_trace_index(
                session,
                project,
                [r.trace_id for r in later if r.project_id == project],
                attempts=attempts,
                last_error=later[0].reason,
                max_backoff_seconds=settings.search.indexer_max_backoff_seconds,
            )
        refused = {str(r.trace_id) for r in refusals}
        clear_dead_letters(session, [uuid.UUID(a["_id"]) for a in actions if a["_id"] not in refused])
        if refusals:
            log.warning(
                "Elasticsearch refused %d documents (%d dead-lettered)",
                len(refusals),
                len(dead),
                extra={"error": refusals[0].reason[:500]},
            )
        mark_done(session, rows)
        return DrainResult(len(rows), len(actions) - len(refusals), failed=bool(later))


def drain(settings: Settings, es: Elasticsearch, sessions: sessionmaker[Session]) -> int:
    """Index everything pending now (stops at the first failure); returns the documents indexed."""
    total = 0
    while (result := drain_once(settings, es, sessions)).rows and not result.failed:
        total += result.documents
    return total


def run_forever(settings: Settings, es: Elasticsearch, sessions: sessionmaker[Session]) -> None:
    """The `metamon indexer` loop."""
    templates_ready = False
    while True:
        try:
            if not templates_ready:
                ensure_indices(es, settings)
                templates_ready = True
            result = drain_once(settings, es, sessions)
        except Exception:  # the database or Elasticsearch is away: wait and try again
            log.exception("indexer pass failed")
            result = DrainResult(0, 0, failed=True)
        if not result.rows or result.failed:
            time.sleep(settings.search.indexer_poll_seconds)
