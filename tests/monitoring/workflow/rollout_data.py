"""Rollout fixtures: an approved proposal to roll back support-bot's prompt v7 to v6, and an app's traffic
with fact accuracy scores, tagged with the config version that served it (one statement per cohort)."""

import uuid
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import AppConfig, ImprovementProposal

CHANGE = {"type": "rollback_prompt_version", "app": "support-bot", "from_version": "v7", "to_version": "v6"}

COHORT = text("""
    WITH rows AS MATERIALIZED (
        SELECT gen_random_uuid() AS id,
               CAST(:start AS timestamptz) + (CAST(:end AS timestamptz) - CAST(:start AS timestamptz))
                   * ((i + 0.5) / CAST(:n AS float8)) AS ts,
               i < CAST(:failures AS int) AS failed
        FROM generate_series(0, CAST(:n AS int) - 1) AS i
    ), ins AS (
        INSERT INTO traces (id, project_id, external_id, timestamp, app, input, output, retrieved_context,
                            status, guardrails, tags, metadata)
        SELECT id, :project_id, id::text, ts, :app, 'a question', 'an answer', '[]', 'ok', '[]', '{}',
               CAST(:metadata AS jsonb)
        FROM rows
        RETURNING id
    )
    INSERT INTO trace_evaluations (trace_id, project_id, evaluator, kind, score, passed, reason, details)
    SELECT rows.id, :project_id, 'fact_accuracy', 'code', CASE WHEN failed THEN 0 ELSE 1 END, NOT failed,
           CASE WHEN failed THEN 'missing facts' ELSE 'passed' END, '{}'
    FROM rows JOIN ins USING (id)
""")


def add_traffic(
    db: Session,
    project_id: uuid.UUID,
    *,
    start: datetime,
    end: datetime,
    n: int,
    failures: int,
    version: int | None = None,
    app: str = "support-bot",
) -> None:
    """n traces spread over [start, end), `failures` of them failing fact accuracy, served by config
    `version` (None: untagged, as before any rollout)."""
    metadata = "{}" if version is None else f'{{"config_version": {version}}}'
    params = {"project_id": project_id, "app": app, "metadata": metadata}
    db.execute(COHORT, params | {"start": start, "end": end, "n": n, "failures": failures})


def approved_proposal(
    db: Session, project_id: uuid.UUID, *, status: str = "approved", **kw
) -> ImprovementProposal:
    fields = {
        "project_id": project_id,
        "status": status,
        "proposal_type": "rollback_prompt_version",
        "title": "Roll support-bot back from prompt v7 to v6",
        "app": "support-bot",
        "root_cause_key": f"fact_accuracy|app=support-bot|prompt_version=v7|{uuid.uuid4().hex[:8]}",
        "scope": {"app": "support-bot", "metric": "fact_accuracy"},
        "root_cause": {"metric": "fact_accuracy", "dimension": "prompt_version", "value": "v7"},
        "recommended_change": CHANGE,
        "risk": "low",
    }
    proposal = ImprovementProposal(**(fields | kw))
    db.add(proposal)
    db.flush()
    return proposal


def active_v1(db: Session, project_id: uuid.UUID, app: str = "support-bot") -> AppConfig:
    config = AppConfig(
        project_id=project_id, app=app, version=1, is_active=True, config={"prompt_version": "v7", "top_k": 4}
    )
    db.add(config)
    db.flush()
    return config
