"""`metamon digest send`, run as a user runs it."""

import json
import re
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string, policy

import pytest
from sqlalchemy import select

from metamon.monitoring.db.models import MonitoringAlert, Project
from metamon.monitoring.db.session import session_scope
from tests.conftest import free_port, run_metamon
from tests.monitoring.notifications.inbox import smtp_inbox

SUBJECT = re.compile(
    r"metamon digest \d{4}-\d{2}-\d{2} for cli-digest: \d+ open alerts?, \d+ proposals? to review"
)
PROJECT = ("--project", "cli-digest")


@pytest.fixture(autouse=True)
def project(make_key):
    make_key("cli-digest")


def test_dry_run_writes_the_email_to_a_file(database_url, tmp_path):
    eml = tmp_path / "digest.eml"
    result = run_metamon(
        "digest",
        "send",
        "--dry-run",
        *PROJECT,
        "--output",
        str(eml),
        env={"METAMON_DATABASE_URL": database_url},
    )
    assert result.returncode == 0, result.stderr
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert SUBJECT.fullmatch(message["Subject"])
    assert f"wrote {message['Subject']!r} to {eml}" in result.stderr
    assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None


def test_dry_run_writes_the_email_to_stdout(database_url):
    result = run_metamon("digest", "send", "--dry-run", *PROJECT, env={"METAMON_DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    message = message_from_string(result.stdout, policy=policy.default)
    assert SUBJECT.fullmatch(message["Subject"])


def test_send_delivers_to_the_configured_recipients(database_url):
    with smtp_inbox() as inbox:
        result = run_metamon(
            "digest",
            "send",
            *PROJECT,
            env={
                "METAMON_DATABASE_URL": database_url,
                "METAMON_SMTP_PORT": str(inbox.port),
                "METAMON_DIGEST_EMAIL_TO": json.dumps(["cli@example.org"]),
            },
        )
    assert result.returncode == 0, result.stderr
    [received] = inbox.received
    assert received.rcpt_tos == ["cli@example.org"]
    assert SUBJECT.fullmatch(received.message["Subject"])
    assert f"sent {received.message['Subject']!r} to cli@example.org" in result.stderr


def test_send_without_a_server_fails_with_a_clear_message(database_url):
    port = free_port()
    result = run_metamon(
        "digest", "send", *PROJECT, env={"METAMON_DATABASE_URL": database_url, "METAMON_SMTP_PORT": str(port)}
    )
    assert result.returncode == 1
    assert f"error: could not send email via SMTP server 127.0.0.1:{port}" in result.stderr


def test_output_needs_dry_run(database_url, tmp_path):
    result = run_metamon(
        "digest", "send", "--output", str(tmp_path / "x.eml"), env={"METAMON_DATABASE_URL": database_url}
    )
    assert result.returncode == 2
    assert "only with --dry-run" in result.stderr
    assert not (tmp_path / "x.eml").exists()


def test_an_unknown_project_is_a_clear_error(database_url):
    result = run_metamon("digest", "send", "--project", "no-such", env={"METAMON_DATABASE_URL": database_url})
    assert result.returncode == 1
    assert "error: no project 'no-such'" in result.stderr


def test_send_mails_every_project_with_news_to_its_own_recipients(database_url, make_key):
    make_key("cli-digest-news")
    with session_scope(database_url) as session:
        project = session.scalar(select(Project).where(Project.slug == "cli-digest-news"))
        project.digest_email_to = ["news@example.org"]
        session.add(
            MonitoringAlert(
                project_id=project.id,
                fingerprint="cli-digest-news-fp",
                alertname="MetamonGuardrailPassRateLow",
                severity="high",
                starts_at=datetime.now(UTC),
                labels={"project": "cli-digest-news", "app": "support-bot"},
            )
        )
    with smtp_inbox() as inbox:
        result = run_metamon(
            "digest",
            "send",
            env={
                "METAMON_DATABASE_URL": database_url,
                "METAMON_SMTP_PORT": str(inbox.port),
                "METAMON_DIGEST_EMAIL_TO": json.dumps(["fallback@example.org"]),
            },
        )
    assert result.returncode == 0, result.stderr
    mine = [r for r in inbox.received if " for cli-digest-news: " in r.message["Subject"]]
    assert [r.rcpt_tos for r in mine] == [["news@example.org"]]
    assert "MetamonGuardrailPassRateLow" in mine[0].message.get_body(("plain",)).get_content()
    # The project without news gets nothing; every other project's digest went to the fallback.
    assert not any(" for cli-digest: " in r.message["Subject"] for r in inbox.received)
    assert all(r.rcpt_tos == ["fallback@example.org"] for r in inbox.received if r not in mine)
