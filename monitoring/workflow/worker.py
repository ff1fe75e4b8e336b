"""`metamon worker`: turns new firing alerts into proposals, and validates proposals. The webhook and
the validation request only store their change and an outbox row (so they answer in milliseconds);
this loop claims the rows with SKIP LOCKED, so any number of workers can run, and a failure backs off
and retries. It also sweeps validations no worker finished back to failed_validation."""

import logging
import time
import uuid

from sqlalchemy.orm import Session, sessionmaker

from metamon.agents.research.alerts import alert_target
from metamon.monitoring.db.models import MonitoringAlert
from metamon.monitoring.outbox import ALERT_RESEARCH, PROPOSAL_VALIDATION, back_off, claim, mark_done
from metamon.monitoring.settings import Settings
from metamon.monitoring.workflow.research import propose_for_alert
from metamon.monitoring.workflow.validation import run_validation, sweep_stale_validations

log = logging.getLogger(__name__)
CLAIM_ROWS = 100
SWEEP_EVERY_SECONDS = 60.0


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


def validate_once(settings: Settings, sessions: sessionmaker[Session]) -> int:
    """Run one queued validation; returns how many it ran (0 or 1). The job row stays locked in this
    transaction for the whole replay: that lock is how the sweeper knows the replay is alive, and if
    this process dies the row is free again for another worker."""
    with sessions() as session, session.begin():
        rows = claim(session, PROPOSAL_VALIDATION, 1)
        for row in rows:
            result_id = run_validation(settings, row)
            mark_done(session, [row])
            log.info(
                "proposal validated", extra={"proposal_id": row.aggregate_id, "result_id": str(result_id)}
            )
        return len(rows)


def sweep_once(settings: Settings, sessions: sessionmaker[Session]) -> int:
    with sessions() as session, session.begin():
        swept = sweep_stale_validations(session, settings)
    for proposal_id in swept:
        log.warning(
            "stale validation swept back to failed_validation", extra={"proposal_id": str(proposal_id)}
        )
    return len(swept)


def run_forever(settings: Settings, sessions: sessionmaker[Session]) -> None:
    next_sweep = 0.0
    while True:
        handled = 0
        for work in (research_once, validate_once):
            try:
                handled += work(settings, sessions)
            except Exception:
                log.exception("worker pass failed", extra={"work": work.__name__})
        if time.monotonic() >= next_sweep:
            try:
                sweep_once(settings, sessions)
            except Exception:
                log.exception("sweeping stale validations failed")
            next_sweep = time.monotonic() + SWEEP_EVERY_SECONDS
        if not handled:
            time.sleep(settings.indexer_poll_seconds)
