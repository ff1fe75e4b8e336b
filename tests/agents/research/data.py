"""Seeding traces and their evaluations in bulk with generate_series: one statement per cohort."""

import json
import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from metamon.monitoring.db.models.projects import Project

SEED_COHORT = text("""
    WITH rows AS MATERIALIZED (
        SELECT gen_random_uuid() AS id, i,
               CAST(:start AS timestamptz) + (CAST(:end AS timestamptz) - CAST(:start AS timestamptz))
                   * ((i + 0.5) / CAST(:n AS float8)) AS ts,
               -- exactly `failures` of the n rows fail, spread evenly (integer division)
               ((i + 1) * CAST(:failures AS int) / CAST(:n AS int))
                   - (i * CAST(:failures AS int) / CAST(:n AS int)) = 1 AS failed
        FROM generate_series(0, CAST(:n AS int) - 1) AS i
    ), ins AS (
        INSERT INTO traces (id, project_id, external_id, timestamp, app, model, prompt_version, domain,
                            input, output, retrieved_context, status, error_type, latency_seconds,
                            cost_usd, guardrails, tags, metadata)
        SELECT id, :project_id, id::text, ts, :app, :model, :prompt_version, :domain,
               repeat('x', :input_chars), repeat('y', :output_chars),
               (SELECT coalesce(jsonb_agg(jsonb_build_object('source_id', s, 'content', 'context',
                                                              'score', 0.8)), '[]')
                FROM unnest(CAST(:sources AS text[])) AS s),
               CASE WHEN :evaluator = 'error' AND failed THEN 'error' ELSE 'ok' END,
               CASE WHEN :evaluator = 'error' AND failed THEN CAST(:reason AS text) END,
               0.5, 0.001, '[]', CAST(:tags AS text[]),
               jsonb_build_object('top_k', CAST(:top_k AS int)) || CAST(:metadata AS jsonb)
        FROM rows
        RETURNING id, timestamp
    ), sp AS (
        INSERT INTO spans (trace_id, span_id, name, kind, start_time, status, attributes)
        SELECT ins.id, 's' || k, sp.name, sp.kind, ins.timestamp, 'ok', '{}'
        FROM ins CROSS JOIN unnest(CAST(:span_names AS text[]), CAST(:span_kinds AS text[]))
            WITH ORDINALITY AS sp(name, kind, k)
    )
    INSERT INTO trace_evaluations (trace_id, project_id, evaluator, kind, score, passed, reason, details)
    SELECT rows.id, :project_id, :evaluator, 'code', CASE WHEN failed THEN 0 ELSE 1 END, NOT failed,
           CASE WHEN failed THEN :reason ELSE 'passed' END,
           CASE WHEN failed THEN CAST(:details AS jsonb) ELSE '{"failed": {}}' END
    FROM rows JOIN ins USING (id)
    WHERE :evaluator <> 'error'
""")


def make_project(db: Session) -> uuid.UUID:
    project = Project(slug=f"research-{uuid.uuid4().hex[:8]}", name="research tests")
    db.add(project)
    db.flush()
    return project.id


def add_traces(
    db: Session,
    project_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    n: int,
    failures: int,
    evaluator: str = "fact_accuracy",
    app: str = "support-bot",
    model: str = "gpt-4o",
    prompt_version: str = "v6",
    domain: str = "billing",
    source: str = "kb-billing",
    sources: list[str] | None = None,
    tags: list[str] = (),
    metadata: dict | None = None,
    spans: list[tuple[str, str]] = (),
    input_chars: int = 300,
    output_chars: int = 9,
    top_k: int = 5,
    reason: str = "missing facts: 30 days",
    details: str = '{"failed": {}}',
) -> None:
    """n traces evenly spread over [start, end), `failures` of which fail `evaluator`
    ("error": the trace itself errs, with `reason` as its error type); each retrieves one document from
    each of `sources` (default: `source`) and has one span per (kind, name) of `spans`."""
    db.execute(
        SEED_COHORT,
        {
            "project_id": project_id,
            "start": start,
            "end": end,
            "n": n,
            "failures": failures,
            "evaluator": evaluator,
            "app": app,
            "model": model,
            "prompt_version": prompt_version,
            "domain": domain,
            "sources": list(sources if sources is not None else [source]),
            "tags": list(tags),
            "metadata": json.dumps(metadata or {}),
            "span_kinds": [k for k, _ in spans],
            "span_names": [n for _, n in spans],
            "input_chars": input_chars,
            "output_chars": output_chars,
            "top_k": top_k,
            "reason": reason,
            "details": details,
        },
    )
