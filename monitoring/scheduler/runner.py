"""`metamon scheduler`: APScheduler with its job store in PostgreSQL.

Several scheduler processes may run (for availability); each job occurrence runs once: before running,
a process inserts (job, scheduled time) into `scheduler_runs`, and only the process whose insert
succeeded runs it. The scheduled time is derived from the trigger, so every process names an
occurrence the same way. A run whose process died stays `running` until `sweep_abandoned` marks it
failed, with the reason."""

import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import text

from metamon.monitoring.db.session import get_engine, session_scope
from metamon.monitoring.scheduler import jobs
from metamon.monitoring.settings import Settings, get_settings

log = logging.getLogger(__name__)
RUNNER = f"{socket.gethostname()}:{os.getpid()}"
# Interval triggers count from a fixed origin, so all processes agree on the fire times.
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)


Timing = tuple[BaseTrigger, timedelta]


def every(seconds: int) -> Timing:
    return IntervalTrigger(seconds=seconds, start_date=ORIGIN), timedelta(seconds=seconds)


def daily(at: str, timezone: str) -> Timing:
    hour, minute = at.split(":")
    return CronTrigger(hour=int(hour), minute=int(minute), timezone=timezone), timedelta(days=1)


def schedule(settings: Settings) -> dict[str, tuple[Timing, Callable[[Settings], None]]]:
    """job id -> ((trigger, period), function)."""
    tz = settings.scheduler.timezone
    return {
        "evaluate": (every(settings.scheduler.evaluate_seconds), jobs.evaluate_incremental),
        "monitor": (every(settings.scheduler.monitor_seconds), jobs.monitor_apps),
        "evaluate-daily": (daily(settings.scheduler.daily_run_at, tz), jobs.evaluate_daily),
        "retention": (daily(settings.scheduler.retention_at, tz), jobs.retention),
        "digest": (daily(settings.scheduler.digest_at, tz), jobs.digest),
    }


def occurrence(trigger: BaseTrigger, period: timedelta, now: datetime) -> datetime:
    """The fire time this run belongs to: the first at or after now - period/2 (runs are late, not early)."""
    return trigger.get_next_fire_time(None, now - period / 2)


def claim(settings: Settings, job_id: str, scheduled_for: datetime) -> bool:
    with session_scope(settings.database.url) as session:
        return (
            session.execute(
                text(
                    "INSERT INTO scheduler_runs (job_id, scheduled_for, runner, status) "
                    "VALUES (:job, :at, :runner, 'running') ON CONFLICT DO NOTHING RETURNING job_id"
                ),
                {"job": job_id, "at": scheduled_for, "runner": RUNNER},
            ).first()
            is not None
        )


def finish(settings: Settings, job_id: str, scheduled_for: datetime, error: str | None) -> None:
    with session_scope(settings.database.url) as session:
        session.execute(
            text(
                "UPDATE scheduler_runs SET status = :status, error = :error, finished_at = now() "
                "WHERE job_id = :job AND scheduled_for = :at"
            ),
            {"status": "failed" if error else "done", "error": error, "job": job_id, "at": scheduled_for},
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, alive
        return True
    return True


def sweep_abandoned(settings: Settings) -> int:
    """Mark failed the `running` runs no process will finish, with the reason: this host's runs whose
    process is gone, and any run older than twice its job's period and at least an hour (a long
    evaluation may outlast one period; by then its runner has stopped). Returns how many it marked."""
    host = RUNNER.rsplit(":", 1)[0]
    limits = {
        job_id: max(2 * period, timedelta(hours=1)) for job_id, ((_, period), _) in schedule(settings).items()
    }
    now = datetime.now(UTC)
    marked = 0
    with session_scope(settings.database.url) as session:
        running = session.execute(
            text(
                "SELECT job_id, scheduled_for, runner, started_at FROM scheduler_runs "
                "WHERE status = 'running'"
            )
        ).all()
        for run in running:
            runner_host, _, pid = run.runner.rpartition(":")
            if runner_host == host and pid.isdigit() and not _alive(int(pid)):
                error = f"the scheduler process {run.runner} stopped while it ran"
            elif run.job_id in limits and run.started_at < now - limits[run.job_id]:
                error = f"no scheduler finished it within {limits[run.job_id]}"
            else:
                continue
            marked += session.execute(
                text(
                    "UPDATE scheduler_runs SET status = 'failed', error = :error, finished_at = now() "
                    "WHERE job_id = :job AND scheduled_for = :at AND status = 'running'"
                ),
                {"job": run.job_id, "at": run.scheduled_for, "error": error},
            ).rowcount
    return marked


def run_job(job_id: str) -> None:
    """The callable stored in the job store (by reference): claim the occurrence, then run the job."""
    settings = get_settings()
    if swept := sweep_abandoned(settings):
        log.warning("abandoned runs marked failed", extra={"runs": swept, "runner": RUNNER})
    (trigger, period), function = schedule(settings)[job_id]
    scheduled_for = occurrence(trigger, period, datetime.now(UTC))
    if not claim(settings, job_id, scheduled_for):
        log.info(
            "job skipped", extra={"job": job_id, "scheduled_for": scheduled_for.isoformat(), "runner": RUNNER}
        )
        return
    log.info(
        "job started", extra={"job": job_id, "scheduled_for": scheduled_for.isoformat(), "runner": RUNNER}
    )
    try:
        function(settings)
    except Exception as exc:
        log.exception("job failed", extra={"job": job_id})
        finish(settings, job_id, scheduled_for, f"{type(exc).__name__}: {exc}")
    else:
        finish(settings, job_id, scheduled_for, None)


def build_scheduler(settings: Settings) -> BlockingScheduler:
    store = SQLAlchemyJobStore(engine=get_engine(settings.database.url), tableschema="scheduler")
    scheduler = BlockingScheduler(jobstores={"default": store}, timezone=settings.scheduler.timezone)
    for job_id, ((trigger, period), _) in schedule(settings).items():
        scheduler.add_job(
            run_job,
            trigger,
            args=[job_id],
            id=job_id,
            replace_existing=True,
            coalesce=True,  # after downtime, one catch-up run, not one per missed occurrence
            max_instances=1,
            misfire_grace_time=int(period.total_seconds() / 2),
        )
    return scheduler
