"""Drains `trace.index` outbox rows into Elasticsearch with bulk requests.

Workers claim rows with FOR UPDATE SKIP LOCKED, so any number of them can run side by side. The
document id is the trace id, so indexing twice overwrites: a trace is in the index exactly once.
A pass claims rows up to a number of traces and sends their documents in bulk requests of a fixed
size, loading the next request's documents from PostgreSQL while one is in flight.
When Elasticsearch fails before any request succeeded, the rows stay pending and come back after an
exponential back-off; when a later request fails, only its traces and the ones after them are queued
again (with the back-off), and the rest of the group is done. When Elasticsearch refuses single
documents, only those are held back: a refusal for what the document holds (4xx, say a mapping error)
makes it a dead letter with Elasticsearch's reason, a refusal for load (429, 5xx) queues it again after
a back-off.
"""

import logging
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from elasticsearch import Elasticsearch, helpers
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from metamon.monitoring.db.base import among
from metamon.monitoring.db.models import ReviewLabel, Span, Trace, TraceEvaluation
from metamon.monitoring.outbox import (
    ERROR_LIMIT,
    Refusal,
    back_off,
    claim_traces,
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


# Plain rows, not ORM objects: building thousands of instances per batch costs more than the query.
_TRACE_COLUMNS = [c.label("metadata_") if c.name == "metadata" else c for c in Trace.__table__.columns]
# What a document holds of a span (not its attributes: decoding them cost more than the rest).
_SPAN_COLUMNS = [Span.trace_id, Span.span_id, Span.name, Span.kind, Span.status, Span.input, Span.output]


def load_documents(session: Session, settings: Settings, trace_ids: list[uuid.UUID]) -> list[dict]:
    traces = session.execute(select(*_TRACE_COLUMNS).where(among(Trace.__table__.c.id, trace_ids))).all()
    spans = _group_by_trace(
        session.execute(
            select(*_SPAN_COLUMNS).where(among(Span.trace_id, trace_ids)).order_by(Span.start_time)
        ).all()
    )
    evals = _group_by_trace(
        session.scalars(select(TraceEvaluation).where(among(TraceEvaluation.trace_id, trace_ids)))
    )
    labels = _group_by_trace(
        session.scalars(select(ReviewLabel).where(among(ReviewLabel.trace_id, trace_ids)))
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


def _refusals(errors: list[dict], projects: dict[uuid.UUID, uuid.UUID]) -> list[Refusal]:
    """The bulk responses' per-document errors, each with its trace's project."""
    refusals = []
    for error in errors:
        item = next(iter(error.values()))
        reason = _reason(item.get("error", {}))[:ERROR_LIMIT]
        trace_id = uuid.UUID(item["_id"])
        refusals.append(Refusal(trace_id, projects[trace_id], item["status"], reason))
    return refusals


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


@dataclass
class _Sent:
    """What the bulk requests of one pass did."""

    indexed: list[str] = field(default_factory=list)  # document ids Elasticsearch took or refused
    errors: list[dict] = field(default_factory=list)  # per-document refusals
    unsent: list[uuid.UUID] = field(default_factory=list)  # traces of the failed request and after
    failure: Exception | None = None


def _bulk(es: Elasticsearch, settings: Settings, actions: list[dict]) -> list[dict]:
    client = es.options(request_timeout=settings.search.indexer_bulk_timeout_seconds)
    _, errors = helpers.bulk(
        client,
        actions,
        chunk_size=settings.search.indexer_bulk_documents,
        raise_on_error=False,
        refresh=False,
    )
    return errors


def _send(session: Session, settings: Settings, es: Elasticsearch, trace_ids: list[uuid.UUID]) -> _Sent:
    """Bulk requests of `indexer_bulk_documents`, one in flight while the next one's documents load,
    so PostgreSQL, this process and Elasticsearch work at the same time. Stops at the first failure."""
    size = settings.search.indexer_bulk_documents
    chunks = [trace_ids[i : i + size] for i in range(0, len(trace_ids), size)]
    sent = _Sent()
    with ThreadPoolExecutor(1) as pool:
        in_flight = None
        for k, chunk in enumerate([*chunks, None]):
            actions = load_documents(session, settings, chunk) if chunk else []
            if in_flight is not None:
                flying_chunk, flying_actions, future = in_flight
                try:
                    sent.errors += future.result()
                except Exception as exc:  # Elasticsearch down, slow or refusing the request
                    sent.failure = exc
                    sent.unsent = flying_chunk + [t for c in chunks[k:] for t in c]
                    return sent
                sent.indexed += [a["_id"] for a in flying_actions]
            in_flight = (chunk, actions, pool.submit(_bulk, es, settings, actions)) if actions else None
    return sent


def drain_once(settings: Settings, es: Elasticsearch, sessions: sessionmaker[Session]) -> DrainResult:
    """Claim up to one batch of pending rows, index their traces, and mark them done (or back off)."""
    with sessions() as session, session.begin():
        rows = claim_traces(session, settings.search.indexer_claim_rows, settings.search.indexer_claim_traces)
        if not rows:
            return DrainResult(0, 0, failed=False)
        projects = {  # trace id -> project: an index row's aggregate is its project
            uuid.UUID(t): uuid.UUID(row.aggregate_id)
            for row in rows
            for t in row.payload.get("trace_ids", [])
        }
        sent = _send(session, settings, es, list(projects))
        if sent.failure is not None and not sent.indexed:  # nothing done: keep the rows, retry later
            back_off(rows, sent.failure, settings.search.indexer_max_backoff_seconds)
            log.warning(
                "indexing failed; %d outbox rows back off",
                len(rows),
                extra={"error": str(sent.failure)[:500]},
            )
            return DrainResult(len(rows), 0, failed=True)
        refusals = _refusals(sent.errors, projects)
        later = [(r.trace_id, r.reason) for r in refusals if _retryable(r.status)]
        later += [(t, f"{type(sent.failure).__name__}: {sent.failure}") for t in sent.unsent]
        dead = [r for r in refusals if not _retryable(r.status)]
        dead_letter(session, dead)
        attempts = max(row.attempts for row in rows) + 1
        for project in {projects[t] for t, _ in later}:
            enqueue_trace_index(
                session,
                project,
                [t for t, _ in later if projects[t] == project],
                attempts=attempts,
                last_error=later[0][1][:ERROR_LIMIT],
                max_backoff_seconds=settings.search.indexer_max_backoff_seconds,
            )
        refused = {str(r.trace_id) for r in refusals}
        clear_dead_letters(session, [uuid.UUID(i) for i in sent.indexed if i not in refused])
        if refusals or sent.failure is not None:
            log.warning(
                "Elasticsearch refused %d documents (%d dead-lettered); %d traces retry later",
                len(refusals),
                len(dead),
                len(later),
                extra={"error": (later[0][1] if later else refusals[0].reason)[:500]},
            )
        mark_done(session, rows)
        return DrainResult(len(rows), len(sent.indexed) - len(refusals), failed=bool(later))


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
