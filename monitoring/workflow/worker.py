"""`metamon worker`: turns new firing alerts into proposals, keeps the proposals of alerts still firing
up to date with the traces that keep arriving, and validates proposals. The webhook and the validation
request only store their change and an outbox row (so they answer in milliseconds); research claims its
work in a short transaction of its own (SKIP LOCKED, then a lease committed before research runs), so
any number of workers can run, a long analysis holds no lock, and a failure backs off and retries. It
also sweeps validations no worker finished back to failed_validation."""

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from metamon.agents.research.alerts import alert_target
from metamon.monitoring.db.models import MonitoringAlert, Outbox
from metamon.monitoring.outbox import ALERT_RESEARCH, PROPOSAL_VALIDATION, back_off, claim, mark_done
from metamon.monitoring.settings import Settings
from metamon.monitoring.workflow.research import propose_for_alert
from metamon.monitoring.workflow.validation import run_validation, sweep_stale_validations

log = logging.getLogger(__name__)
CLAIM_ROWS = 100
SWEEP_EVERY_SECONDS = 60.0
# A claimed row or proposal is someone's for this long; a worker that died gives it back by then.
LEASE = timedelta(minutes=10)

# Pending proposals of firing alerts, researched long enough ago and with traces newer than that:
# claimed by moving researched_at to now (the rate limit) in the claim's own transaction.
CLAIM_REVISIONS = text("""
    UPDATE improvement_proposals p SET researched_at = now()
    WHERE p.id IN (
        SELECT p.id FROM improvement_proposals p JOIN monitoring_alerts a ON a.id = p.alert_id
        WHERE p.status = 'pending' AND a.status = 'firing'
          AND coalesce(p.researched_at, p.created_at) < now() - make_interval(secs => :every)
          AND EXISTS (SELECT 1 FROM traces t WHERE t.project_id = p.project_id
                      AND t.timestamp > coalesce(p.researched_at, p.created_at))
        ORDER BY coalesce(p.researched_at, p.created_at)
        LIMIT :limit
        FOR UPDATE OF p SKIP LOCKED
    )
    RETURNING p.alert_id
""")


def _research(settings: Settings, sessions: sessionmaker[Session], alert_id: uuid.UUID) -> None:
    with sessions() as session, session.begin():
        alert = session.get(MonitoringAlert, alert_id)
        if alert is None:
            return
        proposal, created = propose_for_alert(session, settings, alert)
        log.info(
            "alert researched",
            extra={
                "alert_id": str(alert_id),
                "proposal_id": str(proposal.id) if proposal else None,
                "new_proposal": created,
                "revision": proposal.revision if proposal else None,
            },
        )


def research_once(settings: Settings, sessions: sessionmaker[Session]) -> int:
    """Research the alerts waiting now, then revise the proposals of firing alerts that are due; returns
    how much it handled. Alerts about the same metric and app (an alert storm, or one alert per model)
    are researched once per pass."""
    with sessions() as session, session.begin():
        rows = claim(session, ALERT_RESEARCH, CLAIM_ROWS)
        work = []
        for row in rows:
            row.available_at = datetime.now(UTC) + LEASE
            work.append((row.id, uuid.UUID(row.payload["alert_id"])))
        targets = {
            a.id: (a.project_id, alert_target(a.labels))
            for a in session.scalars(
                select(MonitoringAlert).where(MonitoringAlert.id.in_([a for _, a in work]))
            )
        }
    done: set[tuple] = set()
    for row_id, alert_id in work:
        key = targets.get(alert_id)
        try:
            if key is not None and key not in done:
                _research(settings, sessions, alert_id)
                done.add(key)
        except Exception as exc:  # the database hiccuped or the analysis broke: retry later
            log.exception("research failed", extra={"alert_id": str(alert_id)})
            with sessions() as session, session.begin():
                back_off([session.get(Outbox, row_id)], exc, settings.search.indexer_max_backoff_seconds)
            continue
        with sessions() as session, session.begin():
            mark_done(session, [session.get(Outbox, row_id)])
    return len(rows) + revise_firing(settings, sessions)


def revise_firing(settings: Settings, sessions: sessionmaker[Session]) -> int:
    """Re-run research for the pending proposals of firing alerts that are due (see CLAIM_REVISIONS)."""
    with sessions() as session, session.begin():
        due = (
            session.execute(CLAIM_REVISIONS, {"every": settings.research.revise_seconds, "limit": CLAIM_ROWS})
            .scalars()
            .all()
        )
    for alert_id in due:
        try:
            _research(settings, sessions, alert_id)
        except Exception:  # claimed already: the next due time retries it
            log.exception("revision failed", extra={"alert_id": str(alert_id)})
    return len(due)


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
            time.sleep(settings.search.indexer_poll_seconds)
