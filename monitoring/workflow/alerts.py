"""Alerts from Alertmanager's webhook: upserted by (fingerprint, startsAt), so re-sent notifications
count but never duplicate; a new firing alert about a metric queues the research agent."""

import uuid
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import case, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from agents.research.alerts import alert_target
from monitoring.db.models import MonitoringAlert, Outbox, Project
from monitoring.db.models.alerts import SEVERITIES
from monitoring.outbox import ALERT_RESEARCH
from monitoring.workflow.audit import record

# True for a row the upsert inserted (its xmax is 0), false for one it updated.
INSERTED = literal_column("xmax = 0").label("inserted")


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


def store_notification(session: Session, payload: AlertmanagerPayload) -> dict:
    """Upsert every alert of the notification; returns counts. Rows are written in key order, so two
    notifications carrying the same alerts never deadlock."""
    unique = {(a.fingerprint, a.startsAt): a for a in payload.alerts}
    slugs = {a.labels.get("project") for a in unique.values()} - {None}
    projects = dict(session.execute(select(Project.slug, Project.id).where(Project.slug.in_(slugs))).all())
    now = datetime.now(UTC)
    rows = [
        {
            "id": uuid.uuid4(),
            "project_id": projects.get(a.labels.get("project")),
            "fingerprint": a.fingerprint,
            "alertname": a.labels["alertname"][:200],
            "status": a.status,
            "severity": _severity(a.labels),
            "starts_at": a.startsAt,
            "ends_at": _ends_at(a),
            "labels": a.labels,
            "annotations": a.annotations,
            "generator_url": a.generatorURL,
            "resolved_by": "alertmanager" if a.status == "resolved" else None,
            "resolved_at": now if a.status == "resolved" else None,
            "notification_count": 1,
            "last_notified_at": now,
            "notified_receivers": [payload.receiver],
        }
        for (_, _), a in sorted(unique.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]
    stmt = pg_insert(MonitoringAlert).values(rows)
    table = MonitoringAlert.__table__.c
    resolved_now = stmt.excluded.status == "resolved"
    stmt = stmt.on_conflict_do_update(
        index_elements=["fingerprint", "starts_at"],
        set_={
            # A resolved notification resolves; a re-sent firing one keeps an acknowledgement.
            "status": case((resolved_now, literal("resolved")), else_=table.status),
            "ends_at": func.coalesce(stmt.excluded.ends_at, table.ends_at),
            "resolved_by": case(
                (resolved_now & table.resolved_by.is_(None), "alertmanager"), else_=table.resolved_by
            ),
            "resolved_at": case((resolved_now & table.resolved_at.is_(None), now), else_=table.resolved_at),
            "labels": stmt.excluded.labels,
            "annotations": stmt.excluded.annotations,
            "notification_count": table.notification_count + 1,
            "last_notified_at": now,
            "notified_receivers": case(
                (table.notified_receivers.contains([payload.receiver]), table.notified_receivers),
                else_=table.notified_receivers.op("||")(stmt.excluded.notified_receivers),
            ),
            "updated_at": now,
        },
    ).returning(MonitoringAlert.id, MonitoringAlert.project_id, MonitoringAlert.status, INSERTED)
    stored = session.execute(stmt).all()
    new = [row for row in stored if row.inserted]
    labels_of = {r["id"]: r["labels"] for r in rows}
    for row in new:
        labels = labels_of[row.id]
        record(
            session,
            project_id=row.project_id,
            actor="alertmanager",
            action=f"alert.{row.status}",
            entity_type="alert",
            entity_id=row.id,
            after={"alertname": labels["alertname"]},
        )
        if row.status == "firing" and row.project_id and alert_target(labels):
            session.add(
                Outbox(topic=ALERT_RESEARCH, aggregate_id=str(row.id), payload={"alert_id": str(row.id)})
            )
    return {"received": len(payload.alerts), "new": len(new), "updated": len(stored) - len(new)}
