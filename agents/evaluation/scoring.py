"""Scoring: every stored trace not yet scored gets one row per applicable evaluator.

Batched and resumable: each batch is claimed with FOR UPDATE SKIP LOCKED, scored and committed with
its `evaluated_at` mark, so any number of processes share the work, a crash loses at most one batch,
and a trace is never scored twice unless it changes (a re-sent trace clears its mark).

Hostile traces never stall the work: an evaluator that raises on a trace leaves that evaluator's error
on that trace (score and verdict NULL) and the batch goes on; each batch takes its share from every
project with a backlog, so one project's flood never starves another."""

import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable
from math import ceil

import orjson
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from metamon.agents.evaluation.evaluators.base import Evaluator, Score
from metamon.monitoring.db.models import Project, Trace
from metamon.monitoring.outbox import enqueue_trace_index

log = logging.getLogger(__name__)
ERROR_LIMIT = 2000  # characters of an evaluator's error message kept

# The columns evaluators read (see evaluators/base.py TraceLike), plus identity.
_COLUMNS = [
    Trace.id,
    Trace.project_id,
    Trace.app,
    Trace.model,
    Trace.input,
    Trace.output,
    Trace.retrieved_context,
    Trace.reference,
    Trace.output_schema,
    Trace.latency_seconds,
    Trace.input_tokens,
    Trace.output_tokens,
    Trace.cost_usd,
    Trace.status,
    Trace.error_type,
]

# A trace scored again (it was re-sent) loses every earlier score first: an evaluator that no longer
# applies to its new content must not leave a stale one behind.
_CLEAR_SCORES = text("DELETE FROM trace_evaluations WHERE trace_id = ANY(:ids)")
# Score rows go in with COPY: adapting Python lists to PostgreSQL arrays for an INSERT ... unnest cost
# more than the evaluators themselves.
_SCORE_COLUMNS = "trace_id, project_id, evaluator, kind, score, passed, reason, details, error"
_COPY_SCORES = f"COPY trace_evaluations ({_SCORE_COLUMNS}) FROM STDIN"

_COUNT = text(
    """
INSERT INTO evaluation_counters AS c (project_id, app, evaluator, evaluations, failures, errors)
SELECT * FROM unnest(CAST(:project_ids AS uuid[]), CAST(:apps AS text[]), CAST(:evaluators AS text[]),
    CAST(:evaluations AS bigint[]), CAST(:failures AS bigint[]), CAST(:errors AS bigint[]))
ON CONFLICT (project_id, app, evaluator) DO UPDATE SET
    evaluations = c.evaluations + EXCLUDED.evaluations, failures = c.failures + EXCLUDED.failures,
    errors = c.errors + EXCLUDED.errors
"""
)


def _claim(session: Session, batch_size: int, project_id: uuid.UUID | None) -> list:
    """Up to `batch_size` unscored traces, oldest first within each project, shared between the projects
    with a backlog (in a random order, so past `batch_size` projects none waits behind the others)."""
    pending = select(Trace.id).where(Trace.project_id == Project.id, Trace.evaluated_at.is_(None)).exists()
    projects = (
        [project_id] if project_id is not None else list(session.scalars(select(Project.id).where(pending)))
    )
    random.shuffle(projects)
    projects = projects[:batch_size]
    share = ceil(batch_size / len(projects)) if projects else 0
    traces: list = []
    for project in projects:
        traces += session.execute(
            select(*_COLUMNS)
            .where(Trace.evaluated_at.is_(None), Trace.project_id == project)
            .order_by(Trace.timestamp)
            .limit(min(share, batch_size - len(traces)))
            .with_for_update(of=Trace, skip_locked=True)
        ).all()
    return traces


def _evaluate(evaluator: Evaluator, trace) -> tuple[Score | None, str | None]:
    """(score, None), or (None, error) when the evaluator raised: one poisoned trace (say, JSON nested
    100,000 deep against an output schema) costs that evaluator's score on that trace, nothing more."""
    try:
        return evaluator.evaluate(trace), None
    except Exception as exc:  # any evaluator bug or input it cannot take, RecursionError included
        log.warning("evaluator %s failed on trace %s", evaluator.name, trace.id, exc_info=True)
        return None, f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT].replace("\x00", "")


def score_batch(session: Session, evaluators: list[Evaluator], batch_size: int, project_id=None) -> int:
    """Claim, score and mark one batch in the session's transaction; returns how many traces it scored."""
    traces = _claim(session, batch_size, project_id)
    if not traces:
        return 0
    rows = []
    counts: Counter[tuple[uuid.UUID, str, str]] = Counter()
    failures: Counter[tuple[uuid.UUID, str, str]] = Counter()
    errors: Counter[tuple[uuid.UUID, str, str]] = Counter()
    for trace in traces:
        for evaluator in evaluators:
            result, error = _evaluate(evaluator, trace)
            counter_key = (trace.project_id, trace.app, evaluator.name)
            if error is not None:
                rows.append(
                    (trace.id, trace.project_id, evaluator.name, evaluator.kind)
                    + (None, None, f"evaluator error: {error}", "{}", error)
                )
                errors[counter_key] += 1
                continue
            if result is None:
                continue
            rows.append(
                (
                    trace.id,
                    trace.project_id,
                    evaluator.name,
                    evaluator.kind,
                    result.score,
                    result.passed,
                    result.reason,
                    orjson.dumps(result.details).decode(),
                    None,
                )
            )
            counts[counter_key] += 1
            failures[counter_key] += result.passed is False
    ids = [t.id for t in traces]
    session.execute(_CLEAR_SCORES, {"ids": ids})
    # The session's own connection: the COPY is part of the batch's transaction.
    with session.connection().connection.driver_connection.cursor().copy(_COPY_SCORES) as copy:
        for row in rows:
            copy.write_row(row)
    session.execute(text("UPDATE traces SET evaluated_at = now() WHERE id = ANY(:ids)"), {"ids": ids})
    keys = sorted(counts | errors, key=lambda k: (str(k[0]), k[1], k[2]))  # one lock order: no deadlocks
    session.execute(
        _COUNT,
        {
            "project_ids": [k[0] for k in keys],
            "apps": [k[1] for k in keys],
            "evaluators": [k[2] for k in keys],
            "evaluations": [counts[k] for k in keys],
            "failures": [failures[k] for k in keys],
            "errors": [errors[k] for k in keys],
        },
    )
    # Scores are searchable: the traces are re-indexed with them.
    for project in {t.project_id for t in traces}:
        enqueue_trace_index(session, project, [t.id for t in traces if t.project_id == project])
    return len(traces)


def score_pending(
    sessions: sessionmaker[Session],
    evaluators: list[Evaluator],
    *,
    batch_size: int,
    project_id: uuid.UUID | None = None,
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Score unscored traces batch by batch until none is left (or `limit` is reached)."""
    usable = [e for e in evaluators if e.available()[0]]
    total = 0
    while limit is None or total < limit:
        size = batch_size if limit is None else min(batch_size, limit - total)
        with sessions() as session, session.begin():
            scored = score_batch(session, usable, size, project_id)
        if not scored:
            break
        total += scored
        if progress:
            progress(scored)
    return total
