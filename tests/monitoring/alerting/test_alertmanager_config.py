"""alertmanager.yml rendered from the settings: amtool checks and routes it; a real Alertmanager runs it."""

import email
import email.policy
import json
import re
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import yaml
from aiosmtpd.controller import Controller

from metamon.monitoring.alerting import alertmanager_config as am
from metamon.monitoring.alerting import alertmanager_messages
from metamon.monitoring.stack.services import alertmanager_dir
from metamon.monitoring.stack.supervisor import Supervisor
from tests.conftest import free_port
from tests.live import wait_for
from tests.paths import CHECKOUT

AMTOOL = "/usr/bin/amtool"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
SLACK_URL = "https://hooks.slack.com/services/T0000/B0000/slack-secret-path"
SECRETS = {
    "alert_webhook_token": "webhook-secret-token-4711",
    "slack_webhook_url": SLACK_URL,
    "smtp_username": "alerts",
    "smtp_password": "smtp-secret-password-0815",
}


def amtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([AMTOOL, *args], capture_output=True, text=True, cwd=cwd, timeout=30)


def routed_to(config: Path, labels: dict[str, str], expected: list[str]) -> list[str]:
    """The receivers `amtool config routes test` resolves the labels to; amtool verifies `expected`."""
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={config}",
        f"--verify.receivers={','.join(expected)}",
        *(f"{name}={value}" for name, value in labels.items()),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().split(",")


def loaded(config: Path) -> dict:
    return yaml.safe_load(config.read_text())


@pytest.mark.parametrize("with_slack", [True, False], ids=["slack", "no-slack"])
def test_amtool_check_config_is_clean(make_settings, tmp_path, with_slack):
    overrides = SECRETS if with_slack else {}
    config = am.render(make_settings(**overrides), tmp_path)
    result = amtool("check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    # The message templates are parsed with the config.
    assert "SUCCESS" in result.stdout and " - 1 templates" in result.stdout
    receivers = {receiver["name"] for receiver in loaded(config)["receivers"]}
    assert (am.SLACK_CRITICAL in receivers) is with_slack


SCOPE = {"alertname": "MetamonFactAccuracyLow", "project": "acme", "app": "chat"}


@pytest.mark.parametrize(
    "severity, receivers",
    [
        ("critical", [am.WEBHOOK, am.SLACK_CRITICAL, am.EMAIL_CRITICAL]),
        ("high", [am.WEBHOOK, am.EMAIL_HOURLY]),
        ("medium", [am.WEBHOOK]),
        ("low", [am.WEBHOOK]),
        ("info", [am.WEBHOOK]),
        (None, [am.WEBHOOK]),
    ],
)
def test_every_alert_reaches_the_webhook_and_only_critical_and_high_reach_people(
    make_settings, tmp_path, severity, receivers
):
    config = am.render(make_settings(slack_webhook_url=SLACK_URL), tmp_path)
    labels = {**SCOPE, "severity": severity} if severity else SCOPE
    assert routed_to(config, labels, receivers) == receivers


def test_without_a_slack_url_critical_goes_to_the_webhook_and_email_and_no_slack_is_left(
    make_settings, tmp_path
):
    am.render(make_settings(slack_webhook_url=SLACK_URL), tmp_path)
    config = am.render(make_settings(), tmp_path)  # the Slack URL was unset since
    critical = [am.WEBHOOK, am.EMAIL_CRITICAL]
    assert routed_to(config, {**SCOPE, "severity": "critical"}, critical) == critical
    assert "slack_configs" not in config.read_text() and am.SLACK_CRITICAL not in config.read_text()
    assert not (tmp_path / am.SECRETS_DIR / am.SLACK_URL_FILE).exists()


def test_paging_timers(make_settings, tmp_path):
    route = loaded(am.render(make_settings(slack_webhook_url=SLACK_URL), tmp_path))["route"]
    assert route["group_by"] == ["alertname", "project", "app"]
    by_receiver = {child["receiver"]: child for child in route["routes"]}
    # The webhook route comes first, matches everything and lets the others see the alert.
    first = route["routes"][0]
    assert first["receiver"] == am.WEBHOOK and "matchers" not in first and first["continue"] is True
    for name in (am.SLACK_CRITICAL, am.EMAIL_CRITICAL):
        assert by_receiver[name]["matchers"] == ['severity="critical"']
        assert (by_receiver[name]["group_wait"], by_receiver[name]["repeat_interval"]) == ("30s", "1h")
    assert by_receiver[am.SLACK_CRITICAL]["continue"] is True
    hourly = by_receiver[am.EMAIL_HOURLY]
    assert hourly["matchers"] == ['severity="high"'] and hourly["group_interval"] == "1h"


def test_inhibition_rules(make_settings, tmp_path):
    rules = loaded(am.render(make_settings(), tmp_path))["inhibit_rules"]
    assert rules[0] == {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="high"'],
        "equal": ["alertname", "project", "app"],
    }
    assert rules[1]["source_matchers"] == ['alertname=~"MetamonExporterDown|MetamonApiDown"']
    [target] = rules[1]["target_matchers"]
    assert target.startswith('alertname=~"') and "equal" not in rules[1]
    # Alertmanager anchors the regex: these names are muted by a component-down alert, those are not.
    pattern = re.compile(target.removeprefix('alertname=~"').removesuffix('"'))
    muted = [
        "MetamonFactAccuracyLow",
        "MetamonFactAccuracyDropping",
        "MetamonGuardrailPassRateLow",
        "MetamonEvaluationStale",
        "MetamonAnomalyScoreHigh",
        "MetamonLatencyBudgetBurn",
    ]
    kept = ["MetamonExporterDown", "MetamonApiDown", "MetamonErrorRatioSpike", "MetamonLLMCostHigh"]
    assert all(pattern.fullmatch(name) for name in muted)
    assert not any(pattern.fullmatch(name) for name in kept)


def test_the_inhibitions_name_alerts_the_rules_define():
    """The contract with prometheus/rules: no inhibition names an alert that does not exist."""
    rules = yaml.safe_load((CHECKOUT / "prometheus" / "rules" / "metamon.rules.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    names = {rule["alert"] for rule in alerts}
    assert set(am.COMPONENT_DOWN_ALERTS) <= names
    assert set(am.QUALITY_ALERTS) <= names
    # Every alert carries a severity the routes know.
    assert {rule["labels"]["severity"] for rule in alerts} <= {"critical", "high", "medium", "low", "info"}


def test_secrets_are_files_of_mode_0600_and_never_in_the_yaml(make_settings, tmp_path):
    secrets = tmp_path / am.SECRETS_DIR
    secrets.mkdir()
    (secrets / am.WEBHOOK_TOKEN_FILE).write_text("an older token")
    (secrets / am.WEBHOOK_TOKEN_FILE).chmod(0o644)  # a file left readable before is closed again

    config = am.render(make_settings(**SECRETS), tmp_path)

    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    expected = {
        am.WEBHOOK_TOKEN_FILE: SECRETS["alert_webhook_token"],
        am.SLACK_URL_FILE: SECRETS["slack_webhook_url"],
        am.SMTP_PASSWORD_FILE: SECRETS["smtp_password"],
    }
    assert sorted(path.name for path in secrets.iterdir()) == sorted(expected)
    for name, value in expected.items():
        assert stat.S_IMODE((secrets / name).stat().st_mode) == 0o600
        assert (secrets / name).read_text() == value  # no trailing newline
    text = config.read_text()
    for value in (*expected.values(), "slack-secret-path"):
        assert value not in text
    data = loaded(config)
    receivers = {receiver["name"]: receiver for receiver in data["receivers"]}
    authorization = receivers[am.WEBHOOK]["webhook_configs"][0]["http_config"]["authorization"]
    assert authorization == {"type": "Bearer", "credentials_file": str(secrets / am.WEBHOOK_TOKEN_FILE)}
    [slack] = receivers[am.SLACK_CRITICAL]["slack_configs"]
    assert slack["api_url_file"] == str(secrets / am.SLACK_URL_FILE)
    assert data["global"]["smtp_auth_password_file"] == str(secrets / am.SMTP_PASSWORD_FILE)
    # Credentials only ever travel over STARTTLS.
    assert data["global"]["smtp_require_tls"] is True


def test_email_goes_through_the_smtp_settings_without_tls_to_the_local_server(make_settings, tmp_path):
    settings = make_settings(alert_email_to=["sre@example.com", "oncall@example.com"], api_port=8123)
    data = loaded(am.render(settings, tmp_path))
    assert data["global"] == {
        "smtp_smarthost": "127.0.0.1:1025",
        "smtp_from": "metamon@localhost",
        "smtp_require_tls": False,
    }
    receivers = {receiver["name"]: receiver for receiver in data["receivers"]}
    for name in (am.EMAIL_CRITICAL, am.EMAIL_HOURLY):
        [config] = receivers[name]["email_configs"]
        assert config["to"] == "sre@example.com, oncall@example.com"
        assert config["html"] and config["text"] and config["headers"]["Subject"]
    [webhook] = receivers[am.WEBHOOK]["webhook_configs"]
    assert webhook["url"] == "http://127.0.0.1:8123/api/v1/alerts/webhook"
    assert webhook["send_resolved"] is True


def test_the_committed_config_is_the_rendering_of_the_default_settings(make_settings, tmp_path):
    am.render(make_settings(), tmp_path, relative_secrets=True)
    regenerate = "run `metamon alerting render --out prometheus --relative-secrets` with the default settings"
    for name in (am.CONFIG_NAME, alertmanager_messages.TEMPLATES_FILE):
        committed = CHECKOUT / "prometheus" / name
        assert committed.read_text() == (tmp_path / name).read_text(), f"{committed} is stale: {regenerate}"
    result = amtool("check-config", am.CONFIG_NAME, cwd=CHECKOUT / "prometheus")
    assert result.returncode == 0, result.stdout + result.stderr


# --- A real Alertmanager on the rendering, delivering to local stand-ins for metamon, Slack and SMTP ---


@contextmanager
def http_recorder() -> Iterator[tuple[str, list[dict]]]:
    """A local HTTP endpoint that answers 200 and records every POST (standing in for metamon and Slack)."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


class Inbox:
    def __init__(self):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


@contextmanager
def alertmanager(config: Path, storage: Path) -> Iterator[str]:
    """A throwaway Alertmanager on a free port, run from the config's directory."""
    url = f"http://127.0.0.1:{free_port()}"
    log = storage.parent / "alertmanager.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={config}",
                f"--storage.path={storage}",
                f"--web.listen-address={url.removeprefix('http://')}",
                "--cluster.listen-address=",
            ],
            cwd=config.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, f"alertmanager exited: {log.read_text()}"
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"alertmanager not ready: {log.read_text()}"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def alert(alertname: str, severity: str, **scope: str) -> dict:
    now = datetime.now(UTC)
    where = "/".join(scope.values()) or "metamon"
    return {
        "labels": {"alertname": alertname, "severity": severity, **scope},
        "annotations": {
            "summary": f"{alertname} on {where}",
            "description": f"{alertname} ({severity}) on {where}: p95 > 2s & rising",
            "runbook_url": f"https://runbooks.example/RUNBOOK.md#{alertname.lower()}",
            "dashboard_url": "http://grafana.example/d/metamon-quality",
        },
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }


@pytest.mark.stack
def test_a_real_alertmanager_inhibits_and_delivers_to_the_webhook_slack_and_email(make_settings, tmp_path):
    with (
        http_recorder() as (metamon_url, webhook_posts),
        http_recorder() as (slack_url, slack_posts),
        smtp_server() as (smtp_port, inbox),
    ):
        settings = make_settings(
            api_port=int(metamon_url.rsplit(":", 1)[1]),
            alert_webhook_token=SECRETS["alert_webhook_token"],
            slack_webhook_url=f"{slack_url}/services/T0000/B0000/slack-secret-path",
            smtp_port=smtp_port,
            smtp_from="metamon@example.com",
            alert_email_to=["sre@example.com", "oncall@example.com"],
        )
        # Relative secret paths, as in the committed config: Alertmanager runs from the config's directory.
        config = am.render(settings, tmp_path / "config", relative_secrets=True)
        with alertmanager(config, tmp_path / "data") as url:
            sent = {
                "critical": alert("MetamonErrorRatioSpike", "critical", project="acme", app="chat"),
                "high, same scope": alert("MetamonErrorRatioSpike", "high", project="acme", app="chat"),
                "high, other app": alert("MetamonErrorRatioSpike", "high", project="acme", app="search"),
                "exporter down": alert("MetamonExporterDown", "critical"),
                "guardrail": alert("MetamonGuardrailPassRateLow", "high", project="acme", app="chat"),
                "fact accuracy": alert("MetamonFactAccuracyLow", "critical", project="beta", app="qa"),
            }
            httpx.post(f"{url}/api/v2/alerts", json=list(sent.values()), timeout=5).raise_for_status()

            def state() -> dict[str, dict]:
                alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
                listed = {json.dumps(a["labels"], sort_keys=True): a for a in alerts}
                return {key: listed.get(json.dumps(a["labels"], sort_keys=True)) for key, a in sent.items()}

            assert wait_for(lambda: all(state().values()), 10, 0.25), "every alert listed"
            assert wait_for(lambda: state()["guardrail"]["status"]["state"] == "suppressed", 10, 0.25)
            alerts = state()
            fingerprint = {key: a["fingerprint"] for key, a in alerts.items()}
            assert alerts["high, same scope"]["status"]["inhibitedBy"] == [fingerprint["critical"]]
            assert alerts["guardrail"]["status"]["inhibitedBy"] == [fingerprint["exporter down"]]
            assert alerts["fact accuracy"]["status"]["inhibitedBy"] == [fingerprint["exporter down"]]
            for key in ("critical", "high, other app", "exporter down"):
                assert alerts[key]["status"] == {"state": "active", "inhibitedBy": [], "silencedBy": []}, key

            # The two active critical alerts page on Slack and by email after group_wait (30s).
            assert wait_for(lambda: len(slack_posts) == 2 and len(inbox.messages) == 2, 60, 0.25)
            time.sleep(1)  # nothing more arrives

    # metamon got every active alert, with its bearer token, and none of the inhibited ones.
    assert {post["path"] for post in webhook_posts} == {"/api/v1/alerts/webhook"}
    assert {post["headers"]["Authorization"] for post in webhook_posts} == {
        f"Bearer {SECRETS['alert_webhook_token']}"
    }
    delivered = sorted(
        (a["labels"]["alertname"], a["labels"]["severity"], a["labels"].get("app", ""))
        for post in webhook_posts
        for a in post["json"]["alerts"]
    )
    assert delivered == [
        ("MetamonErrorRatioSpike", "critical", "chat"),
        ("MetamonErrorRatioSpike", "high", "search"),
        ("MetamonExporterDown", "critical", ""),
    ]
    assert {post["json"]["version"] for post in webhook_posts} == {"4"}

    critical = sent["critical"]["annotations"]
    # Slack: the incoming-webhook URL from the secret file, a title, a link and the alert's text.
    assert {post["path"] for post in slack_posts} == {"/services/T0000/B0000/slack-secret-path"}
    attachments = [post["json"]["attachments"][0] for post in slack_posts]
    [message] = [attachment for attachment in attachments if "ErrorRatio" in attachment["title"]]
    assert message["title"] == "[FIRING:1] MetamonErrorRatioSpike (acme/chat)"
    assert message["title_link"] == critical["dashboard_url"]
    assert message["color"] == "danger"
    assert f"*{critical['summary']}*" in message["text"] and critical["description"] in message["text"]
    assert f"<{critical['runbook_url']}|Runbook>" in message["text"]

    # Email: one per page, to every recipient, with an HTML and a text body.
    subjects = sorted(str(message["Subject"]) for _, message in inbox.messages)
    assert subjects == [
        "metamon [FIRING:1] MetamonErrorRatioSpike (acme/chat)",
        "metamon [FIRING:1] MetamonExporterDown",
    ]
    [(recipients, mail)] = [(r, m) for r, m in inbox.messages if "ErrorRatio" in str(m["Subject"])]
    assert sorted(recipients) == ["oncall@example.com", "sre@example.com"]
    assert mail["From"] == "metamon@example.com"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    for value in (critical["summary"], critical["runbook_url"], critical["dashboard_url"]):
        assert value in text and value in html
    assert critical["description"] in text
    assert "p95 &gt; 2s &amp; rising" in html  # html/template escapes the annotation
    assert f'<a href="{critical["runbook_url"]}">Runbook</a>' in html


@pytest.mark.stack
def test_the_stack_alertmanager_runs_the_rendering_of_the_stack_settings(base_settings):
    config = alertmanager_dir(base_settings) / am.CONFIG_NAME
    pid = Supervisor(base_settings).states()["alertmanager"]["pid"]
    assert f"--config.file={config}" in Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    expected = [am.WEBHOOK, am.SLACK_CRITICAL, am.EMAIL_CRITICAL]
    if not base_settings.notifications.slack_webhook_url:
        expected.remove(am.SLACK_CRITICAL)
    result = amtool(
        "config",
        "routes",
        "test",
        f"--alertmanager.url={base_settings.alerting.alertmanager_url}",
        f"--verify.receivers={','.join(expected)}",
        "severity=critical",
        "alertname=MetamonFactAccuracyLow",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    webhook = loaded(config)["receivers"][0]["webhook_configs"][0]
    assert webhook["url"] == am.webhook_url(base_settings)
