"""The webhook against the real database: one notification holding the same alert several times, its
`startsAt` written with and without an offset, stores it once."""

from sqlalchemy import func, select

from metamon.monitoring.db.models import AuditLog, MonitoringAlert, Outbox
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.outbox import ALERT_RESEARCH
from tests.monitoring.alerting_payloads import alert, notification


def test_one_instant_written_three_ways_is_one_alert(client, settings, make_key):
    make_key("alerts-dup")
    hook = {"Authorization": f"Bearer {settings.webhook_token()}"}
    same = [
        alert("fp-dup", project="alerts-dup", app="support-bot") | {"startsAt": starts}
        for starts in ("2026-11-21T10:00:00Z", "2026-11-21T10:00:00", "2026-11-21T12:00:00+02:00")
    ]
    response = client.post("/api/v1/alerts/webhook", json=notification(*same), headers=hook)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 3, "new": 1, "updated": 0}
    with session_scope(settings.database.url) as session:
        (row,) = session.scalars(select(MonitoringAlert).where(MonitoringAlert.fingerprint == "fp-dup"))
        assert row.starts_at.isoformat() == "2026-11-21T10:00:00+00:00"
        assert row.notification_count == 1
        audits = select(func.count()).where(
            AuditLog.entity_type == "alert", AuditLog.entity_id == str(row.id)
        )
        assert session.scalar(audits) == 1
        research = select(func.count()).where(
            Outbox.topic == ALERT_RESEARCH, Outbox.aggregate_id == str(row.id)
        )
        assert session.scalar(research) == 1


def test_a_start_past_the_calendar_is_a_422_and_stores_nothing(client, settings):
    hook = {"Authorization": f"Bearer {settings.webhook_token()}"}
    bad = alert("fp-year", project="alerts-dup") | {"startsAt": "9999-12-31T23:30:00-05:00"}
    response = client.post("/api/v1/alerts/webhook", json=notification(bad), headers=hook)
    assert response.status_code == 422, response.text
    with session_scope(settings.database.url) as session:
        stored = select(func.count()).where(MonitoringAlert.fingerprint == "fp-year")
        assert session.scalar(stored) == 0
