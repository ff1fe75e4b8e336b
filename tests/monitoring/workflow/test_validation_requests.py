"""Validation requests name a registered target, nothing else; the worker runs the replay (and a
worker's crash leaves it to the next one); validations no worker holds are swept back with their
reason."""

import json
import os
import signal
import subprocess
import time

from sqlalchemy import func, select

from metamon.monitoring.db.models import AuditLog, Outbox
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.outbox import PROPOSAL_VALIDATION
from metamon.monitoring.workflow.worker import sweep_once
from tests.conftest import METAMON, _client
from tests.monitoring.workflow.seed import prompt_regression_now
from tests.monitoring.workflow.test_alert_to_proposal import new_proposal
from tests.paths import CHECKOUT


def queue(client, pid: str, headers: dict, **body):
    return client.post(
        "/api/v1/control/validate-proposal", json={"proposal_id": pid, **body}, headers=headers
    )


def jobs(database_url: str, pid: str) -> int:
    with session_scope(database_url) as session:
        return session.scalar(
            select(func.count()).where(Outbox.topic == PROPOSAL_VALIDATION, Outbox.aggregate_id == pid)
        )


def status(client, pid: str, headers: dict) -> str:
    return client.get(f"/api/v1/proposals/{pid}", headers=headers).json()["status"]


def test_a_url_or_module_in_the_request_is_422_and_changes_nothing(client, make_key, settings, database_url):
    headers = make_key("val-hostile", scopes=("read", "admin"))
    prompt_regression_now(database_url, "val-hostile")
    pid = new_proposal(client, headers)["id"]
    for target in (
        f"{settings.search.url}/_search",
        "os:getcwd",
        "metamon.monitoring.demo.sample_app:answer",
        "../default",
    ):
        refused = queue(client, pid, headers, target=target)
        assert refused.status_code == 422, (target, refused.text)
        assert "registered validation target" in refused.text
    unknown = queue(client, pid, headers, target="elsewhere")
    assert unknown.status_code == 422 and "registered: default" in unknown.json()["detail"]
    assert status(client, pid, headers) == "pending" and jobs(database_url, pid) == 0


def test_a_registered_url_target_must_be_on_the_allowed_hosts(make_key, settings, database_url):
    headers = make_key("val-hosts", scopes=("read", "admin"))
    prompt_regression_now(database_url, "val-hosts")
    outside = settings.model_copy(
        update={"validation_targets": {"default": "http://169.254.169.254/latest/meta-data"}}
    )
    for client in _client(outside):
        pid = new_proposal(client, headers)["id"]
        refused = queue(client, pid, headers)
        assert refused.status_code == 422 and "METAMON_VALIDATION_ALLOWED_HOSTS" in refused.json()["detail"]
        assert status(client, pid, headers) == "pending" and jobs(database_url, pid) == 0


def test_a_validation_no_worker_holds_is_swept_back_with_its_reason(client, make_key, settings, database_url):
    headers = make_key("val-stale", scopes=("read", "admin"))
    prompt_regression_now(database_url, "val-stale")
    pid = new_proposal(client, headers)["id"]
    assert queue(client, pid, headers).status_code == 202
    sessions = session_factory(database_url)
    now_stale = settings.model_copy(update={"validation_stale_seconds": 0.0})

    # While a worker holds the job (its row locked for the replay), it is alive: not swept.
    with sessions() as worker, worker.begin():
        worker.scalars(
            select(Outbox).where(Outbox.aggregate_id == pid).with_for_update(skip_locked=True)
        ).one()
        sweep_once(now_stale, sessions)
        assert status(client, pid, headers) == "validating"
    # Within the stale time, not swept either (the job is just waiting for a worker).
    sweep_once(settings, sessions)
    assert status(client, pid, headers) == "validating"

    # The worker died (its lock went with it), and the time passed: swept, with the reason.
    assert sweep_once(now_stale, sessions) == 1
    assert status(client, pid, headers) == "failed_validation"
    with session_scope(database_url) as session:
        last = session.scalars(
            select(AuditLog).where(AuditLog.entity_id == pid).order_by(AuditLog.id.desc())
        ).first()
        pending = session.scalar(
            select(func.count()).where(Outbox.aggregate_id == pid, Outbox.processed_at.is_(None))
        )
    assert last.actor == "validation-sweeper" and "no worker finished the validation" in last.after["error"]
    assert pending == 0
    # It can be validated again.
    assert queue(client, pid, headers).status_code == 202


def real_worker(database_url: str, targets: dict[str, str]) -> subprocess.Popen:
    """`metamon worker` on the test database, with these registered targets (from this checkout)."""
    return subprocess.Popen(
        [METAMON, "worker"],
        env={
            **os.environ,
            "METAMON_DATABASE_URL": database_url,
            "METAMON_VALIDATION_TARGETS": json.dumps(targets),
            "PYTHONPATH": str(CHECKOUT),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_killed_in_the_middle_of_a_replay_leaves_the_job_to_the_next_worker(
    client, make_key, settings, database_url
):
    headers = make_key("val-killed", scopes=("read", "admin"))
    prompt_regression_now(database_url, "val-killed")
    pid = new_proposal(client, headers)["id"]
    targets = {"slow": "tests.monitoring.workflow.slow_target:answer"}
    worker = real_worker(database_url, targets)
    sessions = session_factory(database_url)
    try:
        with_slow = settings.model_copy(update={"validation_targets": targets})
        for slow_client in _client(with_slow):
            assert queue(slow_client, pid, headers, target="slow").status_code == 202
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the worker holds the job
            with sessions() as session, session.begin():
                free = session.scalars(
                    select(Outbox.id).where(Outbox.aggregate_id == pid).with_for_update(skip_locked=True)
                ).all()
            if not free:
                break
            time.sleep(0.1)
        assert not free, "the worker never claimed the job"
        time.sleep(1)  # into the replay
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)

    # The crash left the proposal validating, and its job free again: the next worker runs it.
    assert status(client, pid, headers) == "validating"
    worker = real_worker(database_url, targets)
    try:
        deadline = time.monotonic() + 120
        while status(client, pid, headers) == "validating" and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(10)
    detail = client.get(f"/api/v1/proposals/{pid}", headers=headers).json()
    assert detail["status"] == "validated" and detail["validation"]["case_count"] >= 100
