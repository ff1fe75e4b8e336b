"""From an alert (or a request) to a stored proposal: run the research agent over the window before
now (for an alert: before it began, and since) and keep its draft as a pending proposal, one open per
root cause."""

import logging
import uuid
from datetime import UTC, datetime, timedelta

from langchain_core.language_models import BaseChatModel
from sqlalchemy.orm import Session

from metamon.agents.research.agent import research
from metamon.agents.research.alerts import alert_target
from metamon.monitoring.db.models import ImprovementProposal, MonitoringAlert
from metamon.monitoring.settings import Settings
from metamon.monitoring.workflow.proposals import create_from_draft

log = logging.getLogger(__name__)


def propose(
    session: Session,
    settings: Settings,
    *,
    project_id: uuid.UUID,
    metric: str,
    app: str | None,
    window: timedelta | None = None,
    alert_id: uuid.UUID | None = None,
    actor: str,
    chat_model: BaseChatModel | None = None,
) -> tuple[ImprovementProposal | None, bool]:
    """(proposal, created): None when nothing significant explains the failures; created is False
    when a proposal for the same root cause was already open (that one is returned)."""
    end = datetime.now(UTC)
    start = end - (window or timedelta(seconds=settings.research.window_seconds))
    draft = research(
        session,
        settings,
        project_id=project_id,
        metric=metric,
        app=app,
        window_start=start,
        window_end=end,
        chat_model=chat_model,
    )
    if draft is None:
        return None, False
    return create_from_draft(session, project_id, draft, alert_id=alert_id, actor=actor)


def propose_for_alert(
    session: Session, settings: Settings, alert: MonitoringAlert, chat_model: BaseChatModel | None = None
) -> tuple[ImprovementProposal | None, bool]:
    target = alert_target(alert.labels)
    if target is None or alert.project_id is None:
        return None, False
    metric, app = target
    # The research window before the alert began, and the time it has been firing since (at most
    # another research window: an alert firing for days is about its recent traces).
    window = timedelta(seconds=settings.research.window_seconds)
    firing = min(max(datetime.now(UTC) - alert.starts_at, timedelta(0)), window)
    return propose(
        session,
        settings,
        project_id=alert.project_id,
        metric=metric,
        app=app,
        window=window + firing,
        alert_id=alert.id,
        actor="research-agent",
        chat_model=chat_model,
    )
