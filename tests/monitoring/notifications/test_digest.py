"""The daily digest, built from the real database and read back from what a real SMTP server received."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from io import BytesIO
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from metamon.monitoring.db.models import (
    EvaluationRun,
    ImprovementProposal,
    MonitoringAlert,
    Project,
    ValidationResult,
)
from metamon.monitoring.notifications import charts
from metamon.monitoring.notifications.digest import build_digest, send_digest, send_digests
from metamon.monitoring.notifications.smtp import EmailDeliveryError
from tests.conftest import free_port

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
RECIPIENTS = ["ml-team@example.org", "lead@example.org"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE_APP = "<script>alert('x')</script>"


@pytest.fixture
def project(db) -> Project:
    project = Project(slug="digest-acme", name="Digest Acme")
    db.add(project)
    db.flush()
    return project


def _run(project: Project, app: str, end: datetime, **metrics) -> EvaluationRun:
    return EvaluationRun(
        project_id=project.id,
        app=app,
        window_start=end - timedelta(days=1),
        window_end=end,
        trace_count=100,
        **metrics,
    )


def add_week_of_runs(db, project: Project, apps: list[str], now: datetime) -> None:
    """One daily app-wide window per app over the last 7 days; SLA compliance is never measured."""
    for rank, app in enumerate(apps):
        for day in range(7):
            db.add(
                _run(
                    project,
                    app,
                    now - timedelta(days=day, hours=2),
                    fact_accuracy=0.9 - 0.01 * day - 0.02 * rank,
                    guardrail_pass_rate=0.97 - 0.005 * day,
                    error_rate=0.01 * (day % 3),
                    cost_per_request_usd=0.002 + 0.0001 * day + 0.001 * rank,
                    latency_p95_seconds=1.2 + 0.1 * day + 0.3 * rank,
                )
            )
    db.flush()


def _alert(project, alertname, severity, *, status="firing", labels, annotations, starts_at=NOW):
    return MonitoringAlert(
        project_id=project.id,
        fingerprint=uuid.uuid4().hex[:16],
        alertname=alertname,
        status=status,
        severity=severity,
        starts_at=starts_at,
        labels={"alertname": alertname, "severity": severity, **labels},
        annotations=annotations,
    )


def add_alerts(db, project: Project) -> None:
    db.add_all(
        [
            _alert(
                project,
                "MetamonLatencySLOBurn",
                "high",
                status="acknowledged",
                labels={"project": "digest-acme", "app": HOSTILE_APP},
                annotations={"summary": "<b>burning</b> & fast", "dashboard_url": "javascript:alert(1)"},
            ),
            _alert(
                project,
                "MetamonFactAccuracyLow",
                "critical",
                labels={"project": "digest-acme", "app": "support-bot"},
                annotations={
                    "summary": "Fact accuracy 84% on support-bot",
                    "dashboard_url": "https://grafana.example.org/d/metamon-quality?var-app=support-bot",
                },
                starts_at=datetime(2026, 11, 21, 6, 30, tzinfo=UTC),
            ),
            _alert(
                project,
                "MetamonReviewBacklog",
                "medium",
                labels={"project": "digest-acme"},
                annotations={"summary": "Review queue above 500 traces"},
            ),
            _alert(
                project,
                "MetamonAlreadyResolved",
                "critical",
                status="resolved",
                labels={"project": "digest-acme"},
                annotations={},
            ),
        ]
    )
    db.flush()


def add_proposals(db, project: Project) -> ImprovementProposal:
    """A validated proposal (returned), a pending one and a rejected one."""
    validated = ImprovementProposal(
        project_id=project.id,
        status="validated",
        proposal_type="rollback_prompt",
        title="Roll back prompt v7 on support-bot",
        app="support-bot",
        root_cause_key="support-bot:prompt_version=v7",
        root_cause={"dimension": "prompt_version", "value": "v7", "metric": "fact_accuracy"},
        expected_improvement=0.05,
        confidence=0.91,
    )
    pending = ImprovementProposal(
        project_id=project.id,
        status="pending",
        proposal_type="switch_model",
        title="Switch search-assistant to gpt-4o",
        app="search-assistant",
        root_cause_key="search-assistant:model=gpt-4o-mini",
    )
    rejected = ImprovementProposal(
        project_id=project.id,
        status="rejected",
        proposal_type="adjust_guardrail",
        title="Loosen the PII guardrail",
        root_cause_key="guardrail:pii",
    )
    db.add_all([validated, pending, rejected])
    db.flush()
    db.add(
        ValidationResult(
            proposal_id=validated.id,
            status="completed",
            case_count=120,
            mcnemar_p_value=0.004,
            score_delta_mean=0.031,
            score_delta_ci_low=0.012,
            score_delta_ci_high=0.05,
            passed=True,
        )
    )
    db.flush()
    return validated


def _images(message) -> dict[str, tuple[str, bytes]]:
    """Content-ID (without brackets) -> (content type, bytes) of every inline part."""
    return {
        part["Content-ID"].strip().strip("<>"): (part.get_content_type(), part.get_content())
        for part in message.walk()
        if part["Content-ID"]
    }


def test_the_digest_that_arrives_lists_alerts_and_proposals_and_carries_its_charts(
    db, settings, project, inbox
):
    add_week_of_runs(db, project, ["support-bot", "search-assistant"], NOW)
    # Neither a model-scoped window nor one older than 7 days belongs in the app-wide trends.
    db.add(_run(project, "support-bot", NOW - timedelta(minutes=5), model="gpt-4o", fact_accuracy=0.123))
    db.add(_run(project, "retired-bot", NOW - timedelta(days=8), fact_accuracy=0.5))
    add_alerts(db, project)
    validated = add_proposals(db, project)
    digest_settings = settings.model_copy(update={"smtp_port": inbox.port, "digest_email_to": RECIPIENTS})

    send_digest(db, digest_settings, project, now=NOW)

    [received] = inbox.received
    message = received.message
    assert received.rcpt_tos == RECIPIENTS
    assert message["To"] == ", ".join(RECIPIENTS)
    assert message["From"] == settings.notifications.smtp_from
    assert (
        message["Subject"]
        == "metamon digest 2026-11-21 for digest-acme: 3 open alerts, 2 proposals to review"
    )
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()

    # Open alerts, most severe first, with their scope, start (in the zone of `now`), summary and link.
    critical, high, medium = (
        html.index(name)
        for name in ("MetamonFactAccuracyLow", "MetamonLatencySLOBurn", "MetamonReviewBacklog")
    )
    assert critical < high < medium
    assert "MetamonAlreadyResolved" not in html
    assert "2026-11-21 07:30 CET" in html
    assert "Fact accuracy 84% on support-bot" in html
    assert 'href="https://grafana.example.org/d/metamon-quality?var-app=support-bot"' in html
    assert "acknowledged" in html
    # Labels and annotations are anyone's text: escaped, and a script URL never becomes a link.
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;burning&lt;/b&gt; &amp; fast" in html
    assert "javascript:" not in html
    assert (
        f"{settings.notifications.grafana_url}/d/metamon-overview?var-project=digest-acme&amp;var-app=%3Cscript"
        in html
    )

    # Proposals awaiting review, with expected improvement, validation state and an API link.
    assert "Roll back prompt v7 on support-bot" in html
    assert "Switch search-assistant to gpt-4o" in html
    assert "Loosen the PII guardrail" not in html
    assert html.index("Roll back prompt v7") < html.index("Switch search-assistant")
    assert "+0.05 fact_accuracy" in html
    assert "high (0.91)" in html
    assert (
        "passed on 120 golden cases; score delta +0.031 (95% CI +0.012 to +0.050); McNemar p = 0.004" in html
    )
    assert "not validated yet" in html
    assert f"/api/v1/proposals/{validated.id}" in html

    # The latest app-wide window per app; measured metrics are charted, the unmeasured one is named.
    assert "90.0%" in html and "88.0%" in html
    assert "12.3%" not in html
    assert "retired-bot" not in html
    assert "No data in the last 7 days for: SLA compliance" in html

    # Every chart the HTML shows is an inline PNG of the declared size, and every image is shown.
    images = _images(message)
    shown = re.findall(r'<img src="cid:([^"]+)" width="(\d+)" height="(\d+)"', html)
    assert len(shown) == 5
    assert {cid for cid, _, _ in shown} == set(images)
    for cid, width, height in shown:
        content_type, data = images[cid]
        assert content_type == "image/png"
        assert data.startswith(PNG_SIGNATURE)
        with Image.open(BytesIO(data)) as image:
            image.load()
            assert image.size == (int(width), int(height))

    # The plain-text alternative says the same.
    for expected in (
        "MetamonFactAccuracyLow",
        HOSTILE_APP,
        "Roll back prompt v7 on support-bot",
        "support-bot (2026-11-21 07:00 CET)",
    ):
        assert expected in text


def test_each_project_gets_its_own_digest_at_its_own_recipients(db, settings, project, inbox):
    beta = Project(slug="digest-beta", name="Digest Beta", digest_email_to=["beta-oncall@example.org"])
    quiet = Project(slug="digest-quiet", name="Nothing this week")
    db.add_all([beta, quiet])
    db.flush()
    add_week_of_runs(db, project, ["support-bot"], NOW)
    add_week_of_runs(db, beta, ["beta-search"], NOW)
    add_alerts(db, project)
    digest_settings = settings.model_copy(update={"smtp_port": inbox.port, "digest_email_to": RECIPIENTS})

    sent = send_digests(db, digest_settings, now=NOW)

    assert len(sent) == len(inbox.received) == 2  # the quiet project gets no mail
    by_recipients = {tuple(r.rcpt_tos): r.message for r in inbox.received}
    acme = by_recipients[tuple(RECIPIENTS)].get_body(("html",)).get_content()  # the global fallback
    beta_html = by_recipients[("beta-oncall@example.org",)].get_body(("html",)).get_content()
    assert by_recipients[("beta-oncall@example.org",)]["Subject"].startswith(
        "metamon digest 2026-11-21 for digest-beta: 0 open alerts"
    )
    assert "<td>support-bot</td>" in acme and "beta-search" not in acme
    assert "<td>beta-search</td>" in beta_html and "support-bot" not in beta_html
    assert "MetamonFactAccuracyLow" in acme and "MetamonFactAccuracyLow" not in beta_html
    assert "var-project=digest-beta" in beta_html


def test_open_alerts_are_grouped_by_alert_and_scope(db, settings, project):
    # An alert that re-fired five times on one app, at two severities: one row; the same alert on another
    # app: a second row; a burn-rate alert's two windows: one row.
    for hours in range(5):
        db.add(
            _alert(
                project,
                "MetamonFactAccuracyLow",
                "critical" if hours == 3 else "high",
                labels={"project": "digest-acme", "app": "support-bot", "metric": "fact_accuracy"},
                annotations={"summary": f"fired {hours} h ago"},
                starts_at=NOW - timedelta(hours=hours),
            )
        )
    db.add(
        _alert(
            project,
            "MetamonFactAccuracyLow",
            "high",
            labels={"project": "digest-acme", "app": "search-assistant"},
            annotations={},
            starts_at=NOW - timedelta(hours=9),
        )
    )
    for window in ("1h", "6h"):
        db.add(
            _alert(
                project,
                "MetamonLatencyBudgetBurn",
                "high",
                status="acknowledged",
                labels={"project": "digest-acme", "app": "support-bot", "long": window},
                annotations={},
            )
        )
    db.flush()

    message = build_digest(db, settings, project, now=NOW)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()

    assert message["Subject"].startswith("metamon digest 2026-11-21 for digest-acme: 3 open alerts")
    assert html.count(">MetamonFactAccuracyLow</a>") == 2
    assert html.count(">MetamonLatencyBudgetBurn</a>") == 1
    # The group says how often it fired, its most severe level, since when and its latest summary.
    assert (
        "- [critical] MetamonFactAccuracyLow (app support-bot): 5 open since 2026-11-21 05:00 CET, "
        "last fired 2026-11-21 09:00 CET" in text
    )
    assert "fired 0 h ago" in text and "fired 4 h ago" not in text
    assert "- [high, acknowledged] MetamonLatencyBudgetBurn (app support-bot): 2 open" in text
    # Most severe first.
    assert text.index("[critical] MetamonFactAccuracyLow") < text.index("MetamonFactAccuracyLow (app search")


def test_charts_stay_readable_at_thirty_apps(db, settings, project):
    apps = [f"app-{i:02d}" for i in range(30)]
    # Only the last day has windows: the axis covers that day, not the week.
    for rank, app in enumerate(apps):
        for hour in range(0, 24, 4):
            db.add(_run(project, app, NOW - timedelta(hours=hour), fact_accuracy=0.99 - 0.01 * rank))
    db.flush()

    message = build_digest(db, settings, project, now=NOW)
    html = message.get_body(("html",)).get_content()

    assert "the 5 apps doing worst in their latest window" in html
    series = {
        app: [(NOW - timedelta(hours=h), 0.99 - 0.01 * r) for h in (20, 0)] for r, app in enumerate(apps)
    }
    shown, band = charts.fold(series, higher_is_better=True)
    assert list(shown) == ["app-29", "app-28", "app-27", "app-26", "app-25"]
    assert [(low, high) for _, low, _, high in band] == [(pytest.approx(0.75), pytest.approx(0.99))] * 2
    start, end = charts.x_limits(series)
    assert NOW - timedelta(hours=21) < start < NOW - timedelta(hours=20)
    assert NOW < end < NOW + timedelta(hours=1)
    # Lower is better for latency: the slowest are the worst.
    slow = {"fast": [(NOW, 0.5)], **{f"slow-{i}": [(NOW, 2.0 + i)] for i in range(7)}}
    assert list(charts.fold(slow, higher_is_better=False)[0])[0] == "slow-6"
    # A few apps are all drawn.
    assert charts.fold(dict(list(series.items())[:6]), higher_is_better=True)[1] == []


def test_an_empty_week_still_makes_a_sensible_mail(db, settings, project, inbox):
    quiet_monday = datetime(2001, 1, 8, 9, 0, tzinfo=UTC)

    send_digest(db, settings.model_copy(update={"smtp_port": inbox.port}), project, now=quiet_monday)

    [received] = inbox.received
    message = received.message
    assert received.rcpt_tos == settings.notifications.digest_email_to
    assert (
        message["Subject"]
        == "metamon digest 2001-01-08 for digest-acme: 0 open alerts, 0 proposals to review"
    )
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "No evaluation runs in the last 7 days." in html
    assert "No evaluation runs in the last 7 days." in text
    assert "cid:" not in html
    assert _images(message) == {}


def test_an_smtp_server_that_is_down_is_a_clear_error(db, settings, project):
    add_week_of_runs(db, project, ["support-bot"], NOW)
    port = free_port()

    with pytest.raises(
        EmailDeliveryError, match=rf"could not send email via SMTP server 127\.0\.0\.1:{port}"
    ):
        send_digest(db, settings.model_copy(update={"smtp_port": port}), project, now=NOW)


def test_no_recipients_is_refused_before_building(db, settings, project):
    with pytest.raises(
        ValueError, match="no digest recipients for project digest-acme.*METAMON_DIGEST_EMAIL_TO"
    ):
        send_digest(db, settings.model_copy(update={"digest_email_to": []}), project, now=NOW)
