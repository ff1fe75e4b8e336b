"""`POST /api/v1/alerts/webhook` and the alerts API: idempotent upserts, clear 4xx, project isolation."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from metamon.monitoring.db.models import MonitoringAlert, Outbox
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.outbox import ALERT_RESEARCH
from tests.monitoring.alerting_payloads import T0, alert, notification


@pytest.fixture
def hook(settings):
    return {"Authorization": f"Bearer {settings.webhook_token()}"}


def stored(database_url: str, fingerprint: str) -> list[MonitoringAlert]:
    with session_scope(database_url) as session:
        rows = session.scalars(
            select(MonitoringAlert).where(MonitoringAlert.fingerprint == fingerprint)
        ).all()
        session.expunge_all()
        return rows


def research_rows(database_url: str, alert_id: str) -> int:
    with session_scope(database_url) as session:
        return session.scalar(
            select(func.count()).where(Outbox.topic == ALERT_RESEARCH, Outbox.aggregate_id == alert_id)
        )


def test_replayed_notifications_upsert_one_alert_and_resolve_it(client, hook, make_key, database_url):
    make_key("alerts-1")
    body = notification(alert("fp-a1", project="alerts-1", app="support-bot"))
    for _ in range(3):
        response = client.post("/api/v1/alerts/webhook", json=body, headers=hook)
        assert response.status_code == 200, response.text
    (row,) = stored(database_url, "fp-a1")
    assert (row.status, row.severity, row.notification_count) == ("firing", "critical", 3)
    assert row.alertname == "MetamonFactAccuracyLow" and row.notified_receivers == ["metamon-webhook"]
    assert row.project_id is not None
    assert research_rows(database_url, str(row.id)) == 1  # research is queued once, for the new alert

    resolved = notification(alert("fp-a1", status="resolved", project="alerts-1", app="support-bot"))
    assert client.post("/api/v1/alerts/webhook", json=resolved, headers=hook).json() == {
        "received": 1,
        "new": 0,
        "updated": 1,
    }
    (row,) = stored(database_url, "fp-a1")
    assert (row.status, row.resolved_by, row.notification_count) == ("resolved", "alertmanager", 4)
    # Resolved when Alertmanager says it ended, not when the notification happened to arrive.
    assert row.ends_at == row.resolved_at == T0 + timedelta(minutes=30)


def test_bad_tokens_and_bad_payloads_get_clear_4xx_and_store_nothing(client, hook, database_url):
    good = notification(alert("fp-bad", project="alerts-1"))
    assert client.post("/api/v1/alerts/webhook", json=good).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/api/v1/alerts/webhook", json=good, headers=wrong).status_code == 401
    for broken in (
        {**good, "version": "3"},
        {**good, "alerts": []},
        {**good, "alerts": [{**good["alerts"][0], "labels": {"severity": "critical"}}]},  # no alertname
        {**good, "alerts": [{**good["alerts"][0], "startsAt": "yesterday"}]},
        {**good, "alerts": [{**good["alerts"][0], "fingerprint": ""}]},
    ):
        response = client.post("/api/v1/alerts/webhook", json=broken, headers=hook)
        assert response.status_code == 422, (broken, response.text)
        assert response.json()["detail"][0]["msg"]
    not_json = client.post(
        "/api/v1/alerts/webhook", content=b"{", headers={**hook, "Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    text = client.post(
        "/api/v1/alerts/webhook", content=json.dumps(good), headers={**hook, "Content-Type": "text/plain"}
    )
    assert text.status_code == 415
    huge = notification(*[alert(f"fp-{i}", project="alerts-1", note="x" * 1500) for i in range(1000)])
    assert client.post("/api/v1/alerts/webhook", json=huge, headers=hook).status_code == 413
    assert stored(database_url, "fp-bad") == [] and stored(database_url, "fp-1") == []


def test_list_filter_acknowledge_resolve_and_stats(client, hook, make_key):
    headers = make_key("alerts-2", scopes=("read", "review"))
    body = notification(
        alert("fp-l1", project="alerts-2", app="a"),
        alert("fp-l2", project="alerts-2", app="b", severity="high", alertname="MetamonGuardrailPassRateLow"),
        alert("fp-l3", project="someone-else", app="a"),
    )
    client.post("/api/v1/alerts/webhook", json=body, headers=hook)
    page = client.get("/api/v1/alerts?severity=critical&status=firing", headers=headers).json()
    mine = [a for a in page["items"] if a["labels"].get("project") == "alerts-2"]
    assert [a["fingerprint"] for a in mine] == ["fp-l1"]
    assert all(a["labels"].get("project") != "someone-else" for a in page["items"])
    first = mine[0]["id"]

    acked = client.post(f"/api/v1/alerts/{first}/acknowledge", json={"by": "ann"}, headers=headers)
    assert acked.status_code == 200 and acked.json()["acknowledged_by"] == "ann"
    assert (
        client.post(f"/api/v1/alerts/{first}/acknowledge", json={"by": "ann"}, headers=headers).status_code
        == 409
    )
    # A re-sent firing notification keeps the acknowledgement.
    client.post("/api/v1/alerts/webhook", json=body, headers=hook)
    assert (
        client.get(
            "/api/v1/alerts?alertname=MetamonFactAccuracyLow&status=acknowledged", headers=headers
        ).json()["total"]
        >= 1
    )
    assert (
        client.post(f"/api/v1/alerts/{first}/resolve", json={"by": "ann"}, headers=headers).json()["status"]
        == "resolved"
    )
    assert (
        client.post(f"/api/v1/alerts/{first}/resolve", json={"by": "ann"}, headers=headers).status_code == 409
    )
    assert client.post(f"/api/v1/alerts/{first}/resolve", json={}, headers=headers).status_code == 422

    other = [a for a in page["items"] if a["fingerprint"] == "fp-l3"]
    assert other == []
    stats = client.get("/api/v1/alerts/stats", headers=headers).json()
    assert stats["by_status"]["resolved"] >= 1 and stats["open_by_severity"]["high"] >= 1
    assert stats["mean_time_to_resolve_seconds"] > 0
    paged = client.get("/api/v1/alerts?limit=1", headers=headers).json()
    assert len(paged["items"]) == 1 and paged["total"] >= 2


def test_one_alert_by_id_as_the_list_shows_it_and_only_to_its_project(client, hook, make_key):
    headers = make_key("alerts-4", scopes=("read",))
    client.post(
        "/api/v1/alerts/webhook", json=notification(alert("fp-id1", project="alerts-4")), headers=hook
    )
    listed = client.get("/api/v1/alerts?alertname=MetamonFactAccuracyLow", headers=headers).json()["items"]
    (mine,) = [a for a in listed if a["fingerprint"] == "fp-id1"]
    found = client.get(f"/api/v1/alerts/{mine['id']}", headers=headers)
    assert found.status_code == 200 and found.json() == mine
    stranger = make_key("alerts-5", scopes=("read",))
    assert client.get(f"/api/v1/alerts/{mine['id']}", headers=stranger).status_code == 404
    assert client.get("/api/v1/alerts/not-a-uuid", headers=headers).status_code == 422
