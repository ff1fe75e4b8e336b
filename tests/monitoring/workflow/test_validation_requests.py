"""Validation requests name a registered target, nothing else; the worker runs the replay; validations
no worker finished are swept back with their reason."""

import os
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
        f"{settings.elasticsearch_url}/_search",
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


def test_the_real_worker_process_runs_the_queued_validation(client, make_key, settings, database_url):
    headers = make_key("val-worker", scopes=("read", "admin"))
    prompt_regression_now(database_url, "val-worker")
    pid = new_proposal(client, headers)["id"]
    worker = subprocess.Popen(
        [METAMON, "worker"],
        env={**os.environ, "METAMON_DATABASE_URL": database_url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        queued = queue(client, pid, headers)
        assert queued.status_code == 202, queued.text
        deadline = time.monotonic() + 120
        while status(client, pid, headers) == "validating" and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(10)
    detail = client.get(queued.json()["location"], headers=headers).json()
    assert detail["status"] == "validated" and detail["validation"]["case_count"] >= 100
