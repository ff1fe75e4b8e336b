"""`metamon alerting render`, run as a user runs it."""

import stat

import yaml

from tests.conftest import run_metamon


def test_render_writes_the_config_from_the_environment_and_the_secrets_beside_it(tmp_path):
    out = tmp_path / "alertmanager"
    result = run_metamon(
        "alerting",
        "render",
        "--out",
        str(out),
        env={
            "METAMON_API_PORT": "8765",
            "METAMON_ALERT_WEBHOOK_TOKEN": "cli-token",
            "METAMON_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T1/B1/cli",
            "METAMON_ALERT_EMAIL_TO": '["pager@example.com"]',
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out / 'alertmanager.yml'}"

    config = yaml.safe_load((out / "alertmanager.yml").read_text())
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    assert receivers["metamon-webhook"]["webhook_configs"][0]["url"] == (
        "http://127.0.0.1:8765/api/v1/alerts/webhook"
    )
    assert receivers["email-critical"]["email_configs"][0]["to"] == "pager@example.com"
    assert receivers["slack-critical"]["slack_configs"][0]["api_url_file"] == str(
        out / "secrets" / "slack_webhook_url"
    )
    token = out / "secrets" / "alert_webhook_token"
    assert token.read_text() == "cli-token" and stat.S_IMODE(token.stat().st_mode) == 0o600


def test_relative_secrets_name_the_files_as_the_committed_config_does(tmp_path):
    result = run_metamon("alerting", "render", "--out", str(tmp_path), "--relative-secrets")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    authorization = config["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"]
    assert authorization["credentials_file"] == "secrets/alert_webhook_token"
