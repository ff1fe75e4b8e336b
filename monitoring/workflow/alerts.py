"""Alerts from Alertmanager's webhook: upserted by (fingerprint, startsAt), so re-sent notifications
count but never duplicate; a new firing alert about a metric queues the research agent. People
acknowledge and resolve them, each change audited in the same transaction."""

import uuid
from datetime import UTC, datetime
from typing import Literal

from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import ColumnElement, and_, or_, text
from sqlalchemy.orm import Session

from metamon.agents.research.alerts import alert_target
from metamon.monitoring.db.models import MonitoringAlert
from metamon.monitoring.db.models.alerts import SEVERITIES
from metamon.monitoring.outbox import ALERT_RESEARCH
from metamon.monitoring.workflow.audit import record
from metamon.monitoring.workflow.proposals import InvalidTransition


class NoSuchAlert(LookupError):
    """No alert of that id that this project may see (the API answers 404)."""


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(max_length=100)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=100)
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = Field("", max_length=2000)
    fingerprint: str = Field(min_length=1, max_length=64)

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """One instant, one value: "...T10:00:00Z", "...T10:00:00" (taken as UTC) and "...T12:00:00+02:00"
        are the same key, so a notification holding more than one of them stores the alert once."""
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # year 1 or 9999 shifted past the calendar by its offset
            raise ValueError("time is outside the representable range") from None

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


# The whole notification in one statement: upsert every alert (in key order, so two notifications
# carrying the same alerts never deadlock), audit the new ones and queue research for the new firing
# ones with a metric. A resolved notification resolves (at its endsAt: a late or re-sent notification does
# not stretch the time to resolve); a re-sent firing one keeps an acknowledgement.
# `xmax = 0` is true for a row the statement inserted, false for one it updated.
_STORE = text(
    """
WITH incoming AS (
    SELECT x.*, p.id AS project_id
    FROM jsonb_to_recordset(CAST(:alerts AS jsonb)) AS x(id uuid, project text, fingerprint text,
        alertname text, status text, severity text, starts_at timestamptz, ends_at timestamptz,
        labels jsonb, annotations jsonb, generator_url text, research bool)
    LEFT JOIN projects p ON p.slug = x.project
), upserted AS (
    INSERT INTO monitoring_alerts AS a (id, project_id, fingerprint, alertname, status, severity, starts_at,
        ends_at, labels, annotations, generator_url, resolved_by, resolved_at, notification_count,
        last_notified_at, notified_receivers, created_at, updated_at)
    SELECT id, project_id, fingerprint, alertname, status, severity, starts_at, ends_at, labels, annotations,
        generator_url, CASE WHEN status = 'resolved' THEN 'alertmanager' END,
        CASE WHEN status = 'resolved' THEN coalesce(ends_at, now()) END, 1, now(),
        jsonb_build_array(CAST(:receiver AS text)), now(), now()
    FROM incoming ORDER BY fingerprint, starts_at
    ON CONFLICT (fingerprint, starts_at) DO UPDATE SET
        status = CASE WHEN EXCLUDED.status = 'resolved' THEN 'resolved' ELSE a.status END,
        ends_at = coalesce(EXCLUDED.ends_at, a.ends_at),
        resolved_by = coalesce(a.resolved_by, EXCLUDED.resolved_by),
        resolved_at = coalesce(a.resolved_at, EXCLUDED.resolved_at),
        labels = EXCLUDED.labels,
        annotations = EXCLUDED.annotations,
        notification_count = a.notification_count + 1,
        last_notified_at = now(),
        notified_receivers = CASE WHEN a.notified_receivers ? CAST(:receiver AS text)
            THEN a.notified_receivers ELSE a.notified_receivers || EXCLUDED.notified_receivers END,
        updated_at = now()
    RETURNING a.id, a.project_id, a.status, a.alertname, a.fingerprint, a.starts_at, xmax = 0 AS inserted
), audited AS (
    INSERT INTO audit_log (project_id, actor, action, entity_type, entity_id, after)
    SELECT project_id, 'alertmanager', 'alert.' || status, 'alert', id::text,
        jsonb_build_object('alertname', alertname)
    FROM upserted WHERE inserted
), queued AS (
    INSERT INTO outbox (topic, aggregate_id, payload, attempts)
    SELECT CAST(:topic AS text), u.id::text, jsonb_build_object('alert_id', u.id::text), 0
    FROM upserted u JOIN incoming i USING (fingerprint, starts_at)
    WHERE u.inserted AND u.status = 'firing' AND u.project_id IS NOT NULL AND i.research
)
SELECT count(*) FILTER (WHERE inserted) AS new, count(*) AS stored FROM upserted
"""
)


def store_notification(session: Session, payload: AlertmanagerPayload) -> dict:
    """Upsert every alert of the notification; returns counts."""
    unique = {(a.fingerprint, a.startsAt): a for a in payload.alerts}
    alerts = [
        {
            "id": str(uuid.uuid4()),
            "project": a.labels.get("project"),
            "fingerprint": a.fingerprint,
            "alertname": a.labels["alertname"][:200],
            "status": a.status,
            "severity": _severity(a.labels),
            "starts_at": a.startsAt.isoformat(),
            "ends_at": ends.isoformat() if (ends := _ends_at(a)) else None,
            "labels": a.labels,
            "annotations": a.annotations,
            "generator_url": a.generatorURL,
            "research": alert_target(a.labels) is not None,
        }
        for a in unique.values()
    ]
    new, stored = session.execute(
        _STORE, {"alerts": Jsonb(alerts), "receiver": payload.receiver, "topic": ALERT_RESEARCH}
    ).one()
    return {"received": len(payload.alerts), "new": new, "updated": stored - new}


def visible_to(project_id: uuid.UUID) -> ColumnElement[bool]:
    """The alerts a project sees: its own, and those about metamon itself (exporter or API down), which
    carry no project label. One naming a project metamon does not know is nobody's."""
    unscoped = and_(MonitoringAlert.project_id.is_(None), ~MonitoringAlert.labels.has_key("project"))
    return or_(MonitoringAlert.project_id == project_id, unscoped)


def _locked(session: Session, project_id: uuid.UUID, alert_id: uuid.UUID) -> MonitoringAlert:
    alert = session.get(MonitoringAlert, alert_id, with_for_update=True)
    unscoped = alert is not None and alert.project_id is None and "project" not in alert.labels
    if alert is None or not (alert.project_id == project_id or unscoped):
        raise NoSuchAlert(alert_id)
    return alert


def _audit(session: Session, alert: MonitoringAlert, by: str, before: str) -> None:
    record(
        session,
        project_id=alert.project_id,
        actor=by,
        action=f"alert.{alert.status}",
        entity_type="alert",
        entity_id=alert.id,
        before={"status": before},
        after={"status": alert.status},
    )


def acknowledge(session: Session, project_id: uuid.UUID, alert_id: uuid.UUID, by: str) -> MonitoringAlert:
    """A person takes a firing alert on; InvalidTransition when it is not firing."""
    alert = _locked(session, project_id, alert_id)
    if alert.status != "firing":
        raise InvalidTransition(f"the alert is {alert.status}, not firing")
    alert.status, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", by, datetime.now(UTC)
    _audit(session, alert, by, "firing")
    return alert


def resolve(session: Session, project_id: uuid.UUID, alert_id: uuid.UUID, by: str) -> MonitoringAlert:
    """A person closes an alert, firing or acknowledged; InvalidTransition when it is already resolved."""
    alert = _locked(session, project_id, alert_id)
    if alert.status == "resolved":
        raise InvalidTransition("the alert is already resolved")
    before = alert.status
    alert.status, alert.resolved_by, alert.resolved_at = "resolved", by, datetime.now(UTC)
    _audit(session, alert, by, before)
    return alert
