"""`metamon worker`: turns new firing alerts into proposals. The webhook only stores the alert and an
outbox row (so it answers in milliseconds); this loop claims the rows with SKIP LOCKED, so any number
of workers can run, and a failure backs off and retries."""

import logging
import time
import uuid

from sqlalchemy.orm import Session, sessionmaker

from metamon.agents.research.alerts import alert_target
from metamon.monitoring.db.models import MonitoringAlert
from metamon.monitoring.outbox import ALERT_RESEARCH, back_off, claim, mark_done
from metamon.monitoring.settings import Settings
from metamon.monitoring.workflow.research import propose_for_alert

log = logging.getLogger(__name__)
CLAIM_ROWS = 100


def research_once(settings: Settings, sessions: sessionmaker[Session]) -> int:
    """Research the alerts waiting now; returns how many outbox rows it handled. Alerts about the same
    metric and app (an alert storm, or one alert per model) are researched once per pass."""
    with sessions() as session, session.begin():
        rows = claim(session, ALERT_RESEARCH, CLAIM_ROWS)
        done: set[tuple] = set()
        for row in rows:
            alert = session.get(MonitoringAlert, uuid.UUID(row.payload["alert_id"]))
            key = (alert.project_id, alert_target(alert.labels)) if alert else None
            if key in done or alert is None:
                mark_done(session, [row])
                continue
            try:
                with session.begin_nested():
                    proposal, created = propose_for_alert(session, settings, alert)
            except Exception as exc:  # the database hiccuped or the analysis broke: retry later
                log.exception("research failed", extra={"alert_id": row.payload["alert_id"]})
                back_off([row], exc, settings.indexer_max_backoff_seconds)
                continue
            done.add(key)
            mark_done(session, [row])
            log.info(
                "alert researched",
                extra={
                    "alert_id": row.payload["alert_id"],
                    "proposal_id": str(proposal.id) if proposal else None,
                    "new_proposal": created,
                },
            )
        return len(rows)


def run_forever(settings: Settings, sessions: sessionmaker[Session]) -> None:
    while True:
        try:
            handled = research_once(settings, sessions)
        except Exception:
            log.exception("worker pass failed")
            handled = 0
        if not handled:
            time.sleep(settings.indexer_poll_seconds)
