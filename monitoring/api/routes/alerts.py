"""Alerts: Alertmanager's webhook in, and reading, acknowledging and resolving them."""

import hmac
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from metamon.monitoring.api.body import documented_json_body, read_body
from metamon.monitoring.api.deps import Principal, SessionDep, SettingsDep, require_scope
from metamon.monitoring.api.schemas.alerts import (
    Actor,
    Alert,
    AlertCount,
    AlertPage,
    AlertStats,
    WebhookReceipt,
)
from metamon.monitoring.db.models import MonitoringAlert
from metamon.monitoring.db.models.alerts import ALERT_STATUSES, SEVERITIES
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.workflow.alerts import (
    AlertmanagerPayload,
    NoSuchAlert,
    acknowledge,
    resolve,
    store_notification,
    visible_to,
)
from metamon.monitoring.workflow.proposals import InvalidTransition

router = APIRouter(prefix="/alerts", tags=["alerts"])
Reader = Annotated[Principal, Depends(require_scope("read"))]
Reviewer = Annotated[Principal, Depends(require_scope("review"))]


@router.post(
    "/webhook",
    response_model=WebhookReceipt,
    openapi_extra=documented_json_body(AlertmanagerPayload),
    responses={
        401: {"description": "Missing or wrong webhook token"},
        413: {"description": "Body or notification too large"},
        415: {"description": "Not JSON"},
    },
)
async def alertmanager_webhook(
    request: Request,
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> WebhookReceipt:
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
    _, body = await read_body(request, ("application/json",), settings.alerting.webhook_max_body_bytes)
    try:
        payload = AlertmanagerPayload.model_validate_json(body)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)][:20]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, errors) from None
    if len(payload.alerts) > settings.alerting.webhook_max_alerts:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{len(payload.alerts)} alerts exceed the limit of {settings.alerting.webhook_max_alerts}",
        )
    # In a worker thread: an upsert waiting on another request's row lock must not block the event
    # loop that request needs to commit. One hop, one transaction, committed before the response (no
    # request-scoped session, whose opening and closing would cost two more hops).
    return await run_in_threadpool(_store, settings.database.url, payload)


def _store(database_url: str, payload: AlertmanagerPayload) -> WebhookReceipt:
    with session_scope(database_url) as session:
        return WebhookReceipt(**store_notification(session, payload))


@router.get("", response_model=AlertPage)
def list_alerts(
    session: SessionDep,
    principal: Reader,
    severity: Annotated[list[Literal[SEVERITIES]], Query()] = [],  # type: ignore[valid-type]  # noqa: B006
    status_: Annotated[list[Literal[ALERT_STATUSES]], Query(alias="status")] = [],  # type: ignore[valid-type]  # noqa: B006
    alertname: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AlertPage:
    """Newest first."""
    where = [visible_to(principal.project_id)]
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
    return AlertPage(total=total, items=[Alert.model_validate(a) for a in alerts])


@router.get("/stats", response_model=AlertStats)
def alert_stats(session: SessionDep, principal: Reader) -> AlertStats:
    """Counts by status and severity, the most frequent open alerts, and the mean time to resolve."""
    rows = session.execute(
        select(MonitoringAlert.status, MonitoringAlert.severity, func.count())
        .where(visible_to(principal.project_id))
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
        .where(visible_to(principal.project_id), MonitoringAlert.status != "resolved")
        .group_by(MonitoringAlert.alertname)
        .order_by(func.count().desc(), MonitoringAlert.alertname)
        .limit(10)
    ).all()
    mttr = session.scalar(
        select(
            func.avg(func.extract("epoch", MonitoringAlert.resolved_at - MonitoringAlert.starts_at))
        ).where(visible_to(principal.project_id), MonitoringAlert.resolved_at.is_not(None))
    )
    return AlertStats(
        total=sum(by_status.values()),
        by_status=by_status,
        open_by_severity=by_severity_open,
        top_open=[AlertCount(alertname=name, count=count) for name, count in top],
        mean_time_to_resolve_seconds=float(mttr) if mttr is not None else None,
    )


@router.get("/{alert_id}", response_model=Alert)
def get_alert(alert_id: uuid.UUID, session: SessionDep, principal: Reader) -> Alert:
    """One alert, as the list shows it; 404 when the key's project cannot see it."""
    alert = session.scalar(
        select(MonitoringAlert).where(MonitoringAlert.id == alert_id, visible_to(principal.project_id))
    )
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    return Alert.model_validate(alert)


def _changed(change, session, principal: Principal, alert_id: uuid.UUID, by: str) -> Alert:
    try:
        return Alert.model_validate(change(session, principal.project_id, alert_id, by))
    except NoSuchAlert:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert") from None
    except InvalidTransition as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.post("/{alert_id}/acknowledge", response_model=Alert)
def acknowledge_alert(alert_id: uuid.UUID, body: Actor, session: SessionDep, principal: Reviewer) -> Alert:
    """Take a firing alert on (409 when it is not firing)."""
    return _changed(acknowledge, session, principal, alert_id, body.by)


@router.post("/{alert_id}/resolve", response_model=Alert)
def resolve_alert(alert_id: uuid.UUID, body: Actor, session: SessionDep, principal: Reviewer) -> Alert:
    """Close a firing or acknowledged alert (409 when it is already resolved)."""
    return _changed(resolve, session, principal, alert_id, body.by)
