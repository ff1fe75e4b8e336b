"""Alerts through the whole HA chain: both Prometheus replicas evaluate the same fast rules and send to
both Alertmanager peers, which gossip and notify metamon's webhook through the balancer; metamon stores
each alert exactly once, and two workers make exactly one proposal for it."""

import os
import signal
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from metamon.agents.evaluation.runs import write_runs
from metamon.monitoring.db.models import ImprovementProposal, MonitoringAlert
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.stack.ha import ha_ports
from metamon.monitoring.stack.supervisor import Supervisor
from tests.ha.conftest import key_for
from tests.live import query, wait_for
from tests.monitoring.workflow.seed import prompt_regression_now

pytestmark = pytest.mark.timeout(1500)  # the first HA test also waits for the stack to start

ALERT = "MetamonFactAccuracyLow"


def _stored(database_url: str, project: str) -> list[MonitoringAlert]:
    with session_scope(database_url) as session:
        rows = session.scalars(
            select(MonitoringAlert).where(
                MonitoringAlert.alertname == ALERT, MonitoringAlert.labels["project"].astext == project
            )
        ).all()
        session.expunge_all()
        return rows


def _proposals(database_url: str, alert_id: uuid.UUID) -> int:
    with session_scope(database_url) as session:
        return session.scalar(
            select(func.count())
            .select_from(ImprovementProposal)
            .where(ImprovementProposal.alert_id == alert_id)
        )


def _regress(settings, project: str) -> None:
    """A project whose fact accuracy of the last hour is 0.77: the critical fast rule fires."""
    key_for(settings, project)
    project_id = prompt_regression_now(settings.database.url, project)
    with session_scope(settings.database.url) as session:
        runs = write_runs(
            session, end=datetime.now(UTC), window=timedelta(hours=1), baseline_days=7, project_id=project_id
        )
        assert min(r.fact_accuracy for r in runs if r.model is None) < 0.85


def test_each_alert_of_the_ha_pair_and_both_peers_is_stored_once_with_one_proposal(ha_stack, ha_base):
    settings, ports = ha_stack, ha_ports(ha_base)
    project = f"ha-alerts-{uuid.uuid4().hex[:6]}"
    _regress(settings, project)

    selector = f'ALERTS{{alertname="{ALERT}", project="{project}", alertstate="firing"}}'
    for port in ports.prometheus:  # both replicas evaluate the rule and fire
        firing = wait_for(lambda port=port: query(f"http://127.0.0.1:{port}", selector), timeout=120)
        assert firing, f"replica on {port} did not fire {ALERT}"
    for port in ports.alertmanager:  # both peers hold it, once, without a replica label
        held = wait_for(
            lambda port=port: httpx.get(
                f"http://127.0.0.1:{port}/api/v2/alerts", params={"filter": f'project="{project}"'}
            ).json(),
            timeout=60,
        )
        # Once per severity (the high one is inhibited by the critical one), whichever replica sent it.
        severities = [a["labels"]["severity"] for a in held if a["labels"]["alertname"] == ALERT]
        assert sorted(severities) == ["critical", "high"], held
        assert all("replica" not in a["labels"] for a in held)

    # The replicas evaluate independently, so their alert starts at different instants: Alertmanager
    # merges the two into one with the earliest start, the webhook's key (fingerprint, startsAt).
    active_at = [
        next(
            datetime.fromisoformat(a["activeAt"])
            for a in httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts").json()["data"]["alerts"]
            if a["labels"].get("project") == project and a["labels"]["severity"] == "critical"
        )
        for port in ports.prometheus
    ]
    stored = wait_for(lambda: _stored(settings.database.url, project), timeout=120)
    assert stored, "the webhook stored nothing"
    proposal_count = wait_for(lambda: _proposals(settings.database.url, stored[0].id), timeout=120)
    # Past the second peer's wait (15 s for the peer at position 1) and a few group intervals: every
    # delivery the cluster makes has arrived.
    wait_for(lambda: False, timeout=25)
    stored = _stored(settings.database.url, project)
    assert len(stored) == 1, [(a.severity, a.starts_at, a.notification_count) for a in stored]
    (alert,) = stored
    assert alert.status == "firing" and alert.severity == "critical"
    assert _proposals(settings.database.url, alert.id) == proposal_count == 1
    print(
        f"HA figure: {ALERT} fired on 2 replicas, held by 2 peers, {alert.notification_count} webhook "
        f"deliveries, stored once, 1 proposal; the replicas' starts differed by "
        f"{abs((active_at[0] - active_at[1]).total_seconds()):.2f}s"
    )


def test_with_one_peer_paused_the_other_notifies_and_the_alert_is_still_stored_once(ha_stack, ha_base):
    """alertmanager-1 frozen (SIGSTOP: a long pause, or a partition) while the alert fires: the other
    peer notifies alone; resumed, alertmanager-1 catches up on the cluster's notification log, and
    whatever it sends the alert stays one row with one proposal."""
    settings = ha_stack
    project = f"ha-pause-{uuid.uuid4().hex[:6]}"
    paused = Supervisor(settings).states()["alertmanager-1"]["pid"]
    os.kill(paused, signal.SIGSTOP)
    try:
        _regress(settings, project)
        stored = wait_for(lambda: _stored(settings.database.url, project), timeout=120)
        assert stored, "the webhook stored nothing while one peer was paused"
    finally:
        os.kill(paused, signal.SIGCONT)
    wait_for(lambda: False, timeout=25)  # past the resumed peer's wait, should it notify
    stored = _stored(settings.database.url, project)
    assert len(stored) == 1, [(a.severity, a.starts_at, a.notification_count) for a in stored]
    assert wait_for(lambda: _proposals(settings.database.url, stored[0].id), timeout=120) == 1
    print(
        f"HA figure: alertmanager-1 paused: the other peer notified, {stored[0].notification_count} "
        "deliveries in all, stored once, 1 proposal"
    )
