"""Alerts from Alertmanager's webhook: upserted by (fingerprint, startsAt), so re-sent notifications
count but never duplicate; a new firing alert about a metric queues the research agent."""

import uuid
from datetime import datetime
from typing import Literal

from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from agents.research.alerts import alert_target
from monitoring.db.models import Outbox, Project
from monitoring.db.models.alerts import SEVERITIES
from monitoring.outbox import ALERT_RESEARCH
from monitoring.workflow.audit import record


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(max_length=100)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=100)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = Field("", max_length=2000)
    fingerprint: str = Field(min_length=1, max_length=64)

    @field_validator("labels")
    @classmethod
    def _named(cls, labels: dict[str, str]) -> dict[str, str]:
        if not labels.get("alertname"):
            raise ValueError("labels must include alertname")
        if any(len(k) > 200 or len(v) > 2000 for k, v in labels.items()):
            raise ValueError("label names are limited to 200 characters and values to 2000")
        return labels


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body, version 4."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = Field(max_length=200)
    groupKey: str = Field("", max_length=5000)
    alerts: list[AlertmanagerAlert] = Field(min_length=1)


def _severity(labels: dict[str, str]) -> str:
    severity = labels.get("severity", "info")
    return severity if severity in SEVERITIES else "info"


def _ends_at(alert: AlertmanagerAlert) -> datetime | None:
    # Alertmanager sends the zero time (0001-01-01) for a firing alert with no end.
    return alert.endsAt if alert.endsAt and alert.endsAt.year > 1 else None


# One statement per alert, prepared once. A resolved notification resolves; a re-sent firing one keeps
# an acknowledgement. `xmax = 0` is true for a row this statement inserted, false for one it updated.
_UPSERT = text(
    """
INSERT INTO monitoring_alerts AS a (id, project_id, fingerprint, alertname, status, severity, starts_at,
    ends_at, labels, annotations, generator_url, resolved_by, resolved_at, notification_count,
    last_notified_at, notified_receivers, created_at, updated_at)
VALUES (:id, :project_id, :fingerprint, :alertname, CAST(:status AS text), :severity, :starts_at,
    :ends_at, :labels, :annotations, :generator_url,
    CASE WHEN CAST(:status AS text) = 'resolved' THEN 'alertmanager' END,
    CASE WHEN CAST(:status AS text) = 'resolved' THEN now() END, 1, now(),
    jsonb_build_array(CAST(:receiver AS text)), now(), now())
ON CONFLICT (fingerprint, starts_at) DO UPDATE SET
    status = CASE WHEN EXCLUDED.status = 'resolved' THEN 'resolved' ELSE a.status END,
    ends_at = coalesce(EXCLUDED.ends_at, a.ends_at),
    resolved_by = coalesce(a.resolved_by, EXCLUDED.resolved_by),
    resolved_at = coalesce(a.resolved_at, EXCLUDED.resolved_at),
    labels = EXCLUDED.labels,
    annotations = EXCLUDED.annotations,
    notification_count = a.notification_count + 1,
    last_notified_at = now(),
    notified_receivers = CASE WHEN a.notified_receivers ? CAST(:receiver AS text) THEN a.notified_receivers
        ELSE a.notified_receivers || EXCLUDED.notified_receivers END,
    updated_at = now()
RETURNING id, project_id, status, xmax = 0 AS inserted
"""
)


def store_notification(session: Session, payload: AlertmanagerPayload) -> dict:
    """Upsert every alert of the notification; returns counts. Alerts are written in key order, so two
    notifications carrying the same alerts never deadlock."""
    unique = {(a.fingerprint, a.startsAt): a for a in payload.alerts}
    slugs = {a.labels.get("project") for a in unique.values()} - {None}
    projects = (
        dict(session.execute(select(Project.slug, Project.id).where(Project.slug.in_(slugs))).all())
        if slugs
        else {}
    )
    new = 0
    for key in sorted(unique):
        a = unique[key]
        row = session.execute(
            _UPSERT,
            {
                "id": uuid.uuid4(),
                "project_id": projects.get(a.labels.get("project")),
                "fingerprint": a.fingerprint,
                "alertname": a.labels["alertname"][:200],
                "status": a.status,
                "severity": _severity(a.labels),
                "starts_at": a.startsAt,
                "ends_at": _ends_at(a),
                "labels": Jsonb(a.labels),
                "annotations": Jsonb(a.annotations),
                "generator_url": a.generatorURL,
                "receiver": payload.receiver,
            },
        ).one()
        if not row.inserted:
            continue
        new += 1
        record(
            session,
            project_id=row.project_id,
            actor="alertmanager",
            action=f"alert.{row.status}",
            entity_type="alert",
            entity_id=row.id,
            after={"alertname": a.labels["alertname"]},
        )
        if row.status == "firing" and row.project_id and alert_target(a.labels):
            session.add(
                Outbox(topic=ALERT_RESEARCH, aggregate_id=str(row.id), payload={"alert_id": str(row.id)})
            )
    return {"received": len(payload.alerts), "new": new, "updated": len(unique) - new}
