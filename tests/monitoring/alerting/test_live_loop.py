"""The whole alert loop, live: the real Prometheus scrapes the real exporter and API, the fast-profile
rules fire, the real Alertmanager delivers to metamon's webhook (which stores the alert, and the worker
makes a proposal), to a real SMTP server and to an HTTP receiver standing in for Slack; then the
condition clears and the resolve path closes the alert."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from metamon.agents.evaluation.runs import write_runs
from metamon.monitoring.alerting.alertmanager_config import render
from metamon.monitoring.db.models import EvaluationRun, ImprovementProposal, MonitoringAlert
from metamon.monitoring.db.session import session_scope
from tests.live import (
    alertmanager,
    api_server,
    exporter,
    fast_loop_config,
    http_receiver,
    prometheus,
    wait_for,
    worker,
)
from tests.monitoring.notifications.inbox import smtp_inbox
from tests.monitoring.workflow.seed import prompt_regression_now

PROJECT = "live-loop"


def alerts_of(database_url: str, alertname: str) -> list[MonitoringAlert]:
    with session_scope(database_url) as session:
        rows = session.scalars(
            select(MonitoringAlert).where(
                MonitoringAlert.alertname == alertname, MonitoringAlert.labels["project"].astext == PROJECT
            )
        ).all()
        session.expunge_all()
        return rows


def test_fast_rules_fire_through_alertmanager_to_webhook_email_and_slack_then_resolve(
    settings, make_key, tmp_path
):
    make_key(PROJECT)
    project_id = prompt_regression_now(settings.database.url, PROJECT)
    with session_scope(settings.database.url) as session:
        # Fact accuracy of support-bot's last hour: 1 - 70/300 = 0.77, below the critical 0.85.
        (run,) = [
            r
            for r in write_runs(
                session,
                end=datetime.now(UTC),
                window=timedelta(hours=1),
                baseline_days=7,
                project_id=project_id,
            )
            if r.model is None
        ]
        assert run.fact_accuracy < 0.85

    with (
        smtp_inbox() as inbox,
        http_receiver() as (slack_url, slack),
        api_server(settings.database.url, tmp_path, workers=1) as api,
        exporter(settings.database.url, tmp_path, exporter_cache_seconds="0") as exporter_target,
        worker(settings.database.url, tmp_path),
    ):
        routed = settings.model_copy(
            update={
                "api_port": int(api.rsplit(":", 1)[1]),
                "smtp_port": inbox.port,
                "slack_webhook_url": slack_url,
                "alert_email_to": ["oncall@example.com"],
            }
        )
        render(routed, tmp_path / "alertmanager", fast=True)
        with alertmanager(tmp_path / "alertmanager") as am:
            config = fast_loop_config(am, exporter_target, api)
            with prometheus(config, tmp_path):
                stored = wait_for(
                    lambda: alerts_of(settings.database.url, "MetamonFactAccuracyLow"), timeout=90
                )
                assert stored, (tmp_path / "alertmanager" / "alertmanager.log").read_text()[-3000:]
                (alert,) = stored
                assert (alert.severity, alert.status, alert.labels["app"]) == (
                    "critical",
                    "firing",
                    "support-bot",
                )
                assert alert.annotations["runbook_url"].endswith("#metamonfactaccuracylow")

                proposal = wait_for(lambda: _proposal_for(settings.database.url, alert.id), timeout=30)
                assert proposal is not None, (tmp_path / "worker.log").read_text()[-3000:]
                assert proposal.root_cause_key == "fact_accuracy|app=support-bot|prompt_version=v3"

                mail = wait_for(
                    lambda: [
                        m for m in inbox.received if "MetamonFactAccuracyLow" in str(m.message["Subject"])
                    ],
                    timeout=60,
                )
                assert mail, [str(m.message["Subject"]) for m in inbox.received]
                assert mail[0].rcpt_tos == ["oncall@example.com"]
                html = mail[0].message.get_body(("html",)).get_content()
                assert "support-bot" in html and "RUNBOOK.md#metamonfactaccuracylow" in html
                posted = wait_for(
                    lambda: [p for p in slack if "MetamonFactAccuracyLow" in str(p)], timeout=60
                )
                assert posted, slack
                [attachment] = posted[0]["attachments"]
                assert "MetamonFactAccuracyLow" in attachment["title"] and "support-bot" in attachment["text"]
                assert "RUNBOOK.md#metamonfactaccuracylow|Runbook>" in attachment["text"]
                # The high alert (accuracy is also below 0.90) is inhibited by the critical one.
                assert {a.severity for a in alerts_of(settings.database.url, "MetamonFactAccuracyLow")} == {
                    "critical"
                }

                # The app recovers: a newer window at 0.97; the alert resolves all the way to metamon.
                with session_scope(settings.database.url) as session:
                    end = datetime.now(UTC) + timedelta(seconds=1)
                    session.add(
                        EvaluationRun(
                            project_id=project_id,
                            app="support-bot",
                            trace_count=300,
                            window_start=end - timedelta(hours=1),
                            window_end=end,
                            fact_accuracy=0.97,
                        )
                    )
                resolved = wait_for(
                    lambda: [
                        a
                        for a in alerts_of(settings.database.url, "MetamonFactAccuracyLow")
                        if a.status == "resolved"
                    ],
                    timeout=90,
                )
                assert resolved and resolved[0].resolved_by == "alertmanager" and resolved[0].ends_at


def _proposal_for(database_url: str, alert_id) -> ImprovementProposal | None:
    with session_scope(database_url) as session:
        proposal = session.scalar(select(ImprovementProposal).where(ImprovementProposal.alert_id == alert_id))
        if proposal:
            session.expunge(proposal)
        return proposal
