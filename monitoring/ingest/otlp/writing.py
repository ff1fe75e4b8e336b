"""Storing OTLP spans and GenAI content log records, in the caller's transaction.

The common export (new traces, all their spans in it) costs one COPY and one upsert for its traces and
one COPY and one upsert for its spans, like the REST path. Only traces that already have a row (spans
of one trace over several exports, or content logged before its span) reload their stored spans to
re-derive their fields. Every statement that touches an existing trace first locks its row, so
concurrent exports of one trace, and log records racing their span, serialise on it.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import orjson
from sqlalchemy.orm import Session

from metamon.monitoring.ingest.otlp.mapping import Content, LoggedContent, OtelSpan, Unusable, trace_of
from metamon.monitoring.ingest.writer import trace_row, upsert_traces
from metamon.monitoring.outbox import enqueue_trace_index
from metamon.monitoring.settings import Settings
from metamon.monitoring.usage import count_usage

SPAN_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time",
    "end_time",
    "status",
    "input",
    "output",
    "attributes",
)
_STAGE = "ingest_spans_stage"
CONTENT_KEYS = frozenset(
    (
        "input.value",
        "output.value",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "gen_ai.retrieval.query.text",
    )
)
# Content joined from log records fills what the span itself lacks, whichever arrived first.
_UPSERT_SPANS = (
    f"INSERT INTO spans ({', '.join(SPAN_COLUMNS)}) SELECT {', '.join(SPAN_COLUMNS)} FROM {_STAGE} "
    "ORDER BY trace_id, span_id ON CONFLICT (trace_id, span_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in SPAN_COLUMNS[2:8])
    + ", input = coalesce(EXCLUDED.input, spans.input), output = coalesce(EXCLUDED.output, spans.output)"
    ", attributes = spans.attributes || EXCLUDED.attributes"
)
_STORED_SPANS = (
    "SELECT t.external_id, s.span_id, s.parent_span_id, s.name, s.start_time, s.end_time, s.status, "
    "s.attributes, s.kind, s.input, s.output FROM spans s JOIN traces t ON t.id = s.trace_id "
    "WHERE s.trace_id = ANY(%s)"
)


@dataclass
class Outcome:
    trace_ids: dict[str, uuid.UUID] = field(default_factory=dict)  # OTel trace id -> trace id
    rejected: list[str] = field(default_factory=list)  # a reason per rejected span or log record


def _cursor(session: Session):
    return session.connection().connection.driver_connection.cursor()


def _lock_existing(cur, project_id: uuid.UUID, otel_ids: list[str]) -> dict[str, uuid.UUID]:
    cur.execute(
        "SELECT external_id, id FROM traces WHERE project_id = %s AND external_id = ANY(%s) "
        "ORDER BY external_id FOR UPDATE",
        (project_id, otel_ids),
    )
    return dict(cur.fetchall())


def _stored_spans(cur, trace_ids: list[uuid.UUID]) -> dict[str, list[OtelSpan]]:
    stored: dict[str, list[OtelSpan]] = defaultdict(list)
    if trace_ids:
        cur.execute(_STORED_SPANS, (trace_ids,))
        for external_id, *columns in cur.fetchall():
            stored[external_id].append(OtelSpan(external_id, *columns))
    return stored


def _take_pending(cur, keys: list[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], Content]:
    """Content logged before its span, consumed now that the span is here."""
    if not keys:
        return {}
    cur.execute(
        "DELETE FROM otlp_pending_content p USING unnest(%s::uuid[], %s::text[]) AS k(trace_id, span_id) "
        "WHERE p.trace_id = k.trace_id AND p.span_id = k.span_id "
        "RETURNING p.trace_id, p.span_id, p.input, p.output, p.system",
        ([k[0] for k in keys], [k[1] for k in keys]),
    )
    return {(t, s): Content(i, o, sy) for t, s, i, o, sy in cur.fetchall()}


def _with_content(span: OtelSpan, content: Content | None) -> OtelSpan:
    if content is None:
        return span
    filled = Content(span.input, span.output, span.attributes.get("gen_ai.system_instructions")).fill(content)
    attrs = (
        span.attributes
        if not filled.system
        else {"gen_ai.system_instructions": filled.system, **span.attributes}
    )
    return replace(span, input=filled.input, output=filled.output, attributes=attrs)


def _copy_spans(cur, new: list[tuple], known: list[tuple]) -> None:
    """Spans of traces created by this export cannot exist yet: they are COPied straight into the
    table. The others (a span sent again, a trace over several exports) are upserted from a stage."""
    columns = ", ".join(SPAN_COLUMNS)
    if new:
        with cur.copy(f"COPY spans ({columns}) FROM STDIN") as copy:
            for row in new:
                copy.write_row(row)
    if known:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE spans INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cur.copy(f"COPY {_STAGE} ({columns}) FROM STDIN") as copy:
            for row in known:
                copy.write_row(row)
        cur.execute(_UPSERT_SPANS)
        cur.execute(f"DELETE FROM {_STAGE}")  # the next batch in this transaction starts clean


def _span_row(trace_id: uuid.UUID, s: OtelSpan) -> tuple:
    # jsonb goes over COPY as JSON text: orjson is several times faster than psycopg's json.dumps.
    # Content attributes that became the span's input or output are stored once, there.
    kept = {k: v for k, v in s.attributes.items() if not (k in CONTENT_KEYS and v in (s.input, s.output))}
    attrs = orjson.dumps(kept, option=orjson.OPT_NON_STR_KEYS).decode()
    return (trace_id, s.span_id, s.parent_span_id, s.name, s.kind, s.start_time, s.end_time, s.status,
            s.input, s.output, attrs)  # fmt: skip


def _finish(session: Session, settings: Settings, project_id: uuid.UUID, ids) -> None:
    enqueue_trace_index(session, project_id, ids)
    count_usage(session, settings, ids, require_root_span=True)


def ingest_spans(
    session: Session, settings: Settings, project_id: uuid.UUID, spans: list[OtelSpan]
) -> Outcome:
    """Store the spans; a trace whose fields break the ingest limits is rejected with its spans."""
    outcome = Outcome()
    by_trace: dict[str, dict[str, OtelSpan]] = defaultdict(dict)
    for span in spans:
        by_trace[span.trace_id][span.span_id] = span  # a span sent twice in one export: the last wins
    cur = _cursor(session)
    existing = _lock_existing(cur, project_id, sorted(by_trace))
    stored = _stored_spans(cur, list(existing.values()))
    pending = _take_pending(cur, [(existing[t], s) for t in existing for s in by_trace[t]])
    items, batch = {}, {}
    for otel_id, group in by_trace.items():
        fresh = [_with_content(s, pending.get((existing.get(otel_id), s.span_id))) for s in group.values()]
        merged = [s for s in stored.get(otel_id, []) if s.span_id not in group] + fresh
        try:
            items[otel_id] = trace_of(merged)
        except Unusable as exc:
            outcome.rejected += [str(exc)] * len(group)
            continue
        batch[otel_id] = fresh
    if not items:
        return outcome
    rows = [trace_row(project_id, items[otel_id]) for otel_id in sorted(items)]
    ids = upsert_traces(session, project_id, rows)
    # A trace another export created since the lock above: derive it again from all its spans.
    raced = [
        r["external_id"]
        for r in rows
        if r["external_id"] not in existing and ids[r["external_id"]] != r["id"]
    ]
    if raced:
        _lock_existing(cur, project_id, raced)
        stored = _stored_spans(cur, [ids[t] for t in raced])
        pending = _take_pending(cur, [(ids[t], s.span_id) for t in raced for s in batch[t]])
        again = []
        for otel_id in raced:
            batch[otel_id] = [
                _with_content(s, pending.get((ids[otel_id], s.span_id))) for s in batch[otel_id]
            ]
            mine = {s.span_id for s in batch[otel_id]}
            try:
                item = trace_of([s for s in stored[otel_id] if s.span_id not in mine] + batch[otel_id])
            except Unusable:  # the other export's spans alone were within the limits: keep this batch's
                continue
            again.append(trace_row(project_id, item))
        upsert_traces(session, project_id, again)
    created = {r["external_id"] for r in rows if ids[r["external_id"]] == r["id"]}
    _copy_spans(
        cur,
        [_span_row(ids[otel_id], s) for otel_id, group in batch.items() if otel_id in created for s in group],
        [
            _span_row(ids[otel_id], s)
            for otel_id, group in batch.items()
            if otel_id not in created
            for s in group
        ],
    )
    _finish(session, settings, project_id, ids.values())
    outcome.trace_ids = ids
    return outcome


def _content_arrays(ids: dict, merged: dict, keys: list[tuple[str, str]]) -> tuple[list, ...]:
    """(trace ids, span ids, inputs, outputs, systems) of these spans' content, for unnest()."""
    return (
        [ids[t] for t, _ in keys],
        [s for _, s in keys],
        [merged[k].input for k in keys],
        [merged[k].output for k in keys],
        [merged[k].system for k in keys],
    )


def ingest_content(
    session: Session, settings: Settings, project_id: uuid.UUID, records: list[LoggedContent]
) -> None:
    """Join logged content to its span: fill the stored span now, or keep it until the span comes.
    A trace row is made (hidden: not scored, not indexed) to hold the lock and the pending content."""
    merged: dict[tuple[str, str], Content] = {}
    for r in records:
        merged[(r.trace_id, r.span_id)] = merged.get((r.trace_id, r.span_id), Content()).join(r.content)
    if not merged:
        return
    cur = _cursor(session)
    otel_ids = sorted({t for t, _ in merged})
    now = datetime.now(UTC)
    cur.execute(
        "INSERT INTO traces (id, project_id, external_id, timestamp, app, input, output, retrieved_context, "
        "guardrails, tags, metadata, status, updated_at, evaluated_at) "
        "SELECT gen_random_uuid(), %s, e, %s, 'default', '', '', '[]', '[]', '{}', '{}', 'ok', %s, %s "
        "FROM unnest(%s::text[]) AS e ORDER BY e ON CONFLICT (project_id, external_id) DO NOTHING",
        (project_id, now, now, now, otel_ids),
    )
    ids = _lock_existing(cur, project_id, otel_ids)
    keys = list(merged)
    cur.execute(
        "UPDATE spans s SET input = coalesce(s.input, v.input), output = coalesce(s.output, v.output), "
        "attributes = CASE WHEN v.system IS NULL OR s.attributes ? 'gen_ai.system_instructions' "
        "THEN s.attributes "
        "ELSE s.attributes || jsonb_build_object('gen_ai.system_instructions', v.system) END "
        "FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[]) "
        "AS v(trace_id, span_id, input, output, system) "
        "WHERE s.trace_id = v.trace_id AND s.span_id = v.span_id RETURNING s.trace_id, s.span_id",
        _content_arrays(ids, merged, keys),
    )
    joined = {(t, s) for t, s in cur.fetchall()}
    waiting = [k for k in keys if (ids[k[0]], k[1]) not in joined]
    if waiting:
        cur.execute(
            "INSERT INTO otlp_pending_content (trace_id, span_id, input, output, system) "
            "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[]) "
            "ON CONFLICT (trace_id, span_id) DO UPDATE SET "
            "input = nullif(concat_ws(E'\\n', otlp_pending_content.input, EXCLUDED.input), ''), "
            "output = nullif(concat_ws(E'\\n', otlp_pending_content.output, EXCLUDED.output), ''), "
            "system = nullif(concat_ws(E'\\n', otlp_pending_content.system, EXCLUDED.system), '')",
            _content_arrays(ids, merged, waiting),
        )
    # Traces whose spans just got content: derive their fields again.
    touched = sorted({t for t, _ in joined})
    if not touched:
        return
    stored = _stored_spans(cur, touched)
    rows = []
    for spans in stored.values():
        try:
            rows.append(trace_row(project_id, trace_of(spans)))
        except Unusable:  # content past the limits: the span keeps it, the trace stays as it was
            continue
    trace_ids = upsert_traces(session, project_id, rows)
    _finish(session, settings, project_id, trace_ids.values())
