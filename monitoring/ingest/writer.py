"""The one write path for traces: upsert by (project, client id), replace spans, queue indexing.

Everything happens in the caller's transaction, so a batch is stored whole or not at all, together
with the outbox row that will index it.
"""

import uuid
from datetime import UTC, datetime

from psycopg.types.json import Jsonb
from sqlalchemy import delete, insert
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import Span, Trace
from metamon.monitoring.ingest.schemas import TraceIn
from metamon.monitoring.outbox import enqueue_trace_index
from metamon.monitoring.settings import Settings
from metamon.monitoring.usage import count_usage

# Bookkeeping columns the writer never copies: the usage counters and the evaluation agent own them.
BOOKKEEPING = ("created_at", "counted_at", "evaluated_at")
# Columns a re-sent trace overwrites (everything but identity and bookkeeping).
UPDATABLE = [
    c.name for c in Trace.__table__.columns if c.name not in ("id", "project_id", "external_id", *BOOKKEEPING)
]


def trace_row(project_id: uuid.UUID, item: TraceIn) -> dict:
    return {
        "id": uuid.uuid4(),
        "project_id": project_id,
        "external_id": item.id or str(uuid.uuid4()),
        "timestamp": item.timestamp,
        "app": item.app,
        "model": item.model,
        "prompt_version": item.prompt_version,
        "domain": item.domain,
        "session_id": item.session_id,
        "user_id": item.user_id,
        "input": item.input,
        "output": item.output,
        "retrieved_context": [d.model_dump() for d in item.retrieved_context],
        "reference": item.reference.model_dump() if item.reference else None,
        "output_schema": item.output_schema,
        "latency_seconds": item.latency_seconds,
        "input_tokens": item.input_tokens,
        "output_tokens": item.output_tokens,
        "cost_usd": item.cost_usd,
        "status": item.status,
        "error_type": item.error_type,
        "error_message": item.error_message,
        "guardrails": [g.model_dump() for g in item.guardrails],
        "tags": item.tags,
        "metadata": item.metadata,
        "updated_at": datetime.now(UTC),
    }


COPY_COLUMNS = [c.name for c in Trace.__table__.columns if c.name not in BOOKKEEPING]
JSON_COLUMNS = {c.name for c in Trace.__table__.columns if isinstance(c.type, JSONB)}
_STAGE = "ingest_traces_stage"
_UPSERT = (
    f"INSERT INTO traces ({', '.join(COPY_COLUMNS)}) SELECT {', '.join(COPY_COLUMNS)} FROM {_STAGE} "
    "ON CONFLICT (project_id, external_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in UPDATABLE if c != "updated_at")
    # A changed trace is scored again; it is not counted again (usage counts each trace once).
    + ", updated_at = now(), evaluated_at = NULL RETURNING external_id, id"
)


def copy_value(column: str, value):
    return Jsonb(value) if column in JSON_COLUMNS and value is not None else value


def upsert_traces(session: Session, project_id: uuid.UUID, rows: list[dict]) -> dict[str, uuid.UUID]:
    """Insert or update trace rows; returns {external_id: trace id}. Within one call the last row
    for an external id wins, like sending them one after another.

    The rows are COPied into a transaction-scoped staging table and upserted from there in one
    statement: COPY is PostgreSQL's bulk path, and a parameterised multi-row INSERT of 500 traces
    costs more to build than to run."""
    unique = list({row["external_id"]: row for row in rows}.values())
    cursor = session.connection().connection.driver_connection.cursor()
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE traces INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with cursor.copy(f"COPY {_STAGE} ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
        for row in unique:
            copy.write_row([copy_value(c, row[c]) for c in COPY_COLUMNS])
    cursor.execute(_UPSERT)
    found = dict(cursor.fetchall())
    cursor.execute(f"DELETE FROM {_STAGE}")  # the next batch in this transaction starts clean
    return found


def replace_spans(session: Session, spans_by_trace: dict[uuid.UUID, list[dict]]) -> None:
    if not spans_by_trace:
        return
    session.execute(delete(Span).where(Span.trace_id.in_(list(spans_by_trace))))
    rows = [{**span, "trace_id": trace_id} for trace_id, spans in spans_by_trace.items() for span in spans]
    if rows:
        session.execute(insert(Span), rows)


def ingest_batch(
    session: Session, settings: Settings, project_id: uuid.UUID, items: list[TraceIn]
) -> list[tuple[str, uuid.UUID]]:
    """Store a batch; returns (client id, trace id) for each item, in order."""
    rows = [trace_row(project_id, item) for item in items]
    ids = upsert_traces(session, project_id, rows)
    spans = {
        ids[row["external_id"]]: [span.model_dump() for span in item.spans]
        for row, item in zip(rows, items, strict=True)
        if item.spans
    }
    replace_spans(session, spans)
    enqueue_trace_index(session, project_id, ids.values())
    count_usage(session, settings, ids.values())
    return [(row["external_id"], ids[row["external_id"]]) for row in rows]
