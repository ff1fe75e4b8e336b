"""The scheduler: jobs kept in PostgreSQL, and each occurrence run by exactly one process."""

import json
import os
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from metamon.monitoring.db import migrate
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.scheduler import runner
from tests.conftest import METAMON


def test_occurrences_are_named_alike_by_every_process():
    (trigger, period), _ = runner.schedule(runner.get_settings())["evaluate"]
    fire = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    # A run that starts late still belongs to the occurrence it was scheduled for.
    for late in (0, 1, 29):
        assert runner.occurrence(trigger, period, fire + timedelta(seconds=late)) == fire
    daily, day = runner.daily("09:00", "UTC")
    assert runner.occurrence(daily, day, datetime(2026, 11, 21, 9, 0, 3, tzinfo=UTC)) == datetime(
        2026, 11, 21, 9, 0, tzinfo=UTC
    )


def test_two_runners_racing_for_one_occurrence_run_it_once(settings, monkeypatch):
    monkeypatch.setattr(runner, "get_settings", lambda: settings)
    calls = []
    barrier = threading.Barrier(2)

    def slow_job(_settings) -> None:
        calls.append(threading.get_ident())
        time.sleep(0.3)

    def fake_schedule(_settings):
        return {"race": (runner.every(3600), slow_job)}

    monkeypatch.setattr(runner, "schedule", fake_schedule)

    def run() -> None:
        barrier.wait()
        runner.run_job("race")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    with session_scope(settings.database.url) as session:
        rows = session.execute(text("SELECT status FROM scheduler_runs WHERE job_id = 'race'")).all()
    assert [r.status for r in rows] == ["done"]


def test_two_scheduler_processes_share_the_job_store_and_never_double_run(empty_database, tmp_path):
    # A database of its own: the jobs then take milliseconds and the counts below are the schedule's.
    migrate.upgrade(empty_database)
    env = {
        **os.environ,
        "METAMON_DATABASE_URL": empty_database,
        "METAMON_SCHEDULER_EVALUATE_SECONDS": "2",
        "METAMON_SCHEDULER_MONITOR_SECONDS": "3",
        "METAMON_LOG_LEVEL": "INFO",
    }
    logs = [tmp_path / f"scheduler-{i}.log" for i in range(2)]
    processes = [
        subprocess.Popen([METAMON, "scheduler"], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
        for log in logs
    ]

    def started() -> Counter:
        runs = Counter()
        for log in logs:
            for line in log.read_text().splitlines():
                record = json.loads(line) if line.startswith("{") else {}
                if record.get("message") == "job started":
                    runs[(record["job"], record["scheduled_for"])] += 1
        return runs

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(job == "evaluate" for job, _ in started()) < 4:
        time.sleep(0.5)
    for process in processes:
        process.terminate()
        process.wait(10)

    started = started()
    assert started and max(started.values()) == 1, started
    assert sum(1 for job, _ in started if job == "evaluate") >= 4
    assert sum(1 for job, _ in started if job == "monitor") >= 2
    with session_scope(empty_database) as session:
        jobs = set(session.scalars(text("SELECT id FROM scheduler.apscheduler_jobs")))
        failed = session.execute(
            text("SELECT job_id, error FROM scheduler_runs WHERE status = 'failed'")
        ).all()
    assert jobs == {"evaluate", "monitor", "evaluate-daily", "retention", "digest"}
    assert failed == []


def test_runs_whose_scheduler_died_are_swept_to_failed_with_the_reason(settings, monkeypatch):
    monkeypatch.setattr(runner, "get_settings", lambda: settings)
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = runner.RUNNER.rsplit(":", 1)[0]
    now = datetime.now(UTC)
    runs = {
        # (runner, started this long ago) -> expected status
        "dead-here": (f"{host}:{dead.pid}", timedelta(0), "failed"),
        "alive-here": (runner.RUNNER, timedelta(0), "running"),
        "elsewhere-overdue": ("other-host:1", timedelta(hours=2), "failed"),
        "elsewhere-recent": ("other-host:2", timedelta(0), "running"),
    }
    with session_scope(settings.database.url) as session:
        session.execute(text("DELETE FROM scheduler_runs WHERE job_id = 'evaluate'"))
        for i, (who, ago, _) in enumerate(runs.values()):
            session.execute(
                text(
                    "INSERT INTO scheduler_runs (job_id, scheduled_for, runner, status, started_at) "
                    "VALUES ('evaluate', :at, :runner, 'running', :started)"
                ),
                {"at": now - timedelta(seconds=i), "runner": who, "started": now - ago},
            )
    assert runner.sweep_abandoned(settings) == 2
    with session_scope(settings.database.url) as session:
        rows = session.execute(
            text("SELECT runner, status, error FROM scheduler_runs WHERE job_id = 'evaluate'")
        ).all()
    by_runner = {r.runner: r for r in rows}
    for who, _, status in runs.values():
        assert by_runner[who].status == status, who
    assert (
        by_runner[f"{host}:{dead.pid}"].error
        == f"the scheduler process {host}:{dead.pid} stopped while it ran"
    )
    assert by_runner["other-host:1"].error == "no scheduler finished it within 1:00:00"
    assert by_runner[runner.RUNNER].error is None
    assert runner.sweep_abandoned(settings) == 0  # idempotent
