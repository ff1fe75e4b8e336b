"""Alerts: Alertmanager's webhook in, and reading, acknowledging and resolving them."""

import hmac
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import and_, func, or_, select
from starlette.concurrency import run_in_threadpool

from metamon.monitoring.api.body import read_body
from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.db.models import MonitoringAlert
from metamon.monitoring.db.models.alerts import ALERT_STATUSES, SEVERITIES
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.workflow.alerts import AlertmanagerPayload, store_notification
from metamon.monitoring.workflow.audit import record

router = APIRouter(prefix="/alerts", tags=["alerts"])
Reader = Annotated[Principal, Depends(require_scope("read"))]
Reviewer = Annotated[Principal, Depends(require_scope("review"))]


def alert_json(alert: MonitoringAlert) -> dict:
    return {
        "id": str(alert.id),
        "alertname": alert.alertname,
        "status": alert.status,
        "severity": alert.severity,
        "fingerprint": alert.fingerprint,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "generator_url": alert.generator_url,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": alert.acknowledged_at,
        "resolved_by": alert.resolved_by,
        "resolved_at": alert.resolved_at,
        "notification_count": alert.notification_count,
        "notified_receivers": alert.notified_receivers,
    }


@router.post("/webhook")
async def alertmanager_webhook(
    request: Request,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> dict:
    """Alertmanager's webhook (payload version 4), authenticated with the bearer token it is given."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.encode(), settings.webhook_token().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong webhook token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    _, body = await read_body(request, ("application/json",), settings.webhook_max_body_bytes)
    try:
        payload = AlertmanagerPayload.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)][:20]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, errors) from None
    if len(payload.alerts) > settings.webhook_max_alerts:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{len(payload.alerts)} alerts exceed the limit of {settings.webhook_max_alerts}",
        )
    # In a worker thread: an upsert waiting on another request's row lock must not block the event
    # loop that request needs to commit. One hop, one transaction, committed before the response (no
    # request-scoped session, whose opening and closing would cost two more hops).
    return await run_in_threadpool(_store, settings.database_url, payload)


def _store(database_url: str, payload: AlertmanagerPayload) -> dict:
    with session_scope(database_url) as session:
        return store_notification(session, payload)


def _visible(principal: Principal):
    # Alerts about metamon itself (exporter or API down) carry no project label: every reader sees them.
    # One naming a project metamon does not know is nobody's.
    unscoped = and_(MonitoringAlert.project_id.is_(None), ~MonitoringAlert.labels.has_key("project"))
    return or_(MonitoringAlert.project_id == principal.project_id, unscoped)


@router.get("")
def list_alerts(
    session: SessionDep,
    principal: Reader,
    severity: Annotated[list[Literal[SEVERITIES]], Query()] = [],  # type: ignore[valid-type]  # noqa: B006
    status_: Annotated[list[Literal[ALERT_STATUSES]], Query(alias="status")] = [],  # type: ignore[valid-type]  # noqa: B006
    alertname: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict:
    """Newest first; `{"total", "items"}`."""
    where = [_visible(principal)]
    if severity:
        where.append(MonitoringAlert.severity.in_(severity))
    if status_:
        where.append(MonitoringAlert.status.in_(status_))
    if alertname:
        where.append(MonitoringAlert.alertname == alertname)
    total = session.scalar(select(func.count()).select_from(MonitoringAlert).where(*where))
    alerts = session.scalars(
        select(MonitoringAlert)
        .where(*where)
        .order_by(MonitoringAlert.starts_at.desc(), MonitoringAlert.id)
        .limit(limit)
        .offset(offset)
    )
    return {"total": total, "items": [alert_json(a) for a in alerts]}


@router.get("/stats")
def alert_stats(session: SessionDep, principal: Reader) -> dict:
    """Counts by status and severity, the most frequent open alerts, and the mean time to resolve."""
    rows = session.execute(
        select(MonitoringAlert.status, MonitoringAlert.severity, func.count())
        .where(_visible(principal))
        .group_by(MonitoringAlert.status, MonitoringAlert.severity)
    ).all()
    by_status = {s: 0 for s in ALERT_STATUSES}
    by_severity_open = {s: 0 for s in SEVERITIES}
    for state, severity, count in rows:
        by_status[state] += count
        if state != "resolved":
            by_severity_open[severity] += count
    top = session.execute(
        select(MonitoringAlert.alertname, func.count())
        .where(_visible(principal), MonitoringAlert.status != "resolved")
        .group_by(MonitoringAlert.alertname)
        .order_by(func.count().desc(), MonitoringAlert.alertname)
        .limit(10)
    ).all()
    mttr = session.scalar(
        select(
            func.avg(func.extract("epoch", MonitoringAlert.resolved_at - MonitoringAlert.starts_at))
        ).where(_visible(principal), MonitoringAlert.resolved_at.is_not(None))
    )
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "open_by_severity": by_severity_open,
        "top_open": [{"alertname": name, "count": count} for name, count in top],
        "mean_time_to_resolve_seconds": float(mttr) if mttr is not None else None,
    }


@router.get("/{alert_id}")
def get_alert(alert_id: uuid.UUID, session: SessionDep, principal: Reader) -> dict:
    """One alert, as the list shows it; 404 when the key's project cannot see it."""
    alert = session.scalar(select(MonitoringAlert).where(MonitoringAlert.id == alert_id, _visible(principal)))
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    return alert_json(alert)


class Actor(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="Who does it.")


def _own_alert(session, principal: Principal, alert_id: uuid.UUID) -> MonitoringAlert:
    alert = session.get(MonitoringAlert, alert_id, with_for_update=True)
    unscoped = alert is not None and alert.project_id is None and "project" not in alert.labels
    if alert is None or not (alert.project_id == principal.project_id or unscoped):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    return alert


@router.post("/{alert_id}/acknowledge")
def acknowledge_alert(alert_id: uuid.UUID, body: Actor, session: SessionDep, principal: Reviewer) -> dict:
    alert = _own_alert(session, principal, alert_id)
    if alert.status != "firing":
        raise HTTPException(status.HTTP_409_CONFLICT, f"the alert is {alert.status}, not firing")
    alert.status, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", body.by, datetime.now(UTC)
    record(
        session,
        project_id=alert.project_id,
        actor=body.by,
        action="alert.acknowledged",
        entity_type="alert",
        entity_id=alert.id,
        before={"status": "firing"},
        after={"status": "acknowledged"},
    )
    return alert_json(alert)


@router.post("/{alert_id}/resolve")
def resolve_alert(alert_id: uuid.UUID, body: Actor, session: SessionDep, principal: Reviewer) -> dict:
    alert = _own_alert(session, principal, alert_id)
    if alert.status == "resolved":
        raise HTTPException(status.HTTP_409_CONFLICT, "the alert is already resolved")
    before = alert.status
    alert.status, alert.resolved_by, alert.resolved_at = "resolved", body.by, datetime.now(UTC)
    record(
        session,
        project_id=alert.project_id,
        actor=body.by,
        action="alert.resolved",
        entity_type="alert",
        entity_id=alert.id,
        before={"status": before},
        after={"status": "resolved"},
    )
    return alert_json(alert)
