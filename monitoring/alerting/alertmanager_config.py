"""alertmanager.yml, rendered from the settings: where each alert goes, and what silences what.

Ports, recipients and secrets are settings, so the config is rendered, never edited by hand.
`prometheus/alertmanager.yml` is the rendering for the default settings (a test fails on drift);
`metamon stack up` renders into `<stack_dir>/alertmanager/`; `metamon alerting render --out DIR` anywhere.
Secrets (the webhook's bearer token, the Slack URL, the SMTP password) go into files of mode 0600 under
`secrets/` next to the config, which names the files and never holds a secret itself.
Every field used here exists in Alertmanager 0.25 (Debian's), which the tests run.
"""

import os
from pathlib import Path

import yaml

from metamon.monitoring.alerting import alertmanager_messages as messages
from metamon.monitoring.settings import Settings

CONFIG_NAME = "alertmanager.yml"
SECRETS_DIR = "secrets"
WEBHOOK_TOKEN_FILE = "alert_webhook_token"
SLACK_URL_FILE = "slack_webhook_url"
SMTP_PASSWORD_FILE = "smtp_password"

WEBHOOK = "metamon-webhook"
SLACK_CRITICAL = "slack-critical"
EMAIL_CRITICAL = "email-critical"
EMAIL_HOURLY = "email-hourly"

# One notification per alert and scope: the scope labels of every metamon alert are project and app.
GROUP_BY = ["alertname", "project", "app"]

# The routing tree below the root, in Alertmanager's own shape. Alertmanager tries the routes in order
# and stops at the first that matches, unless that route says `continue`.
ROUTES: list[dict] = [
    # Every alert reaches metamon, which stores it and asks the research agent for a proposal; `continue`
    # lets the routes below page people too. A short group_wait keeps alert-to-proposal latency low; the
    # webhook is idempotent, so repeats only refresh what metamon already has.
    {
        "receiver": WEBHOOK,
        "continue": True,
        "group_wait": "10s",
        "group_interval": "1m",
        "repeat_interval": "4h",
    },
    # Critical pages at once, on Slack and by email, and again every hour while it fires. Two routes (the
    # first continues) rather than one receiver, so Slack can be left out when it has no URL.
    {
        "receiver": SLACK_CRITICAL,
        "matchers": ['severity="critical"'],
        "continue": True,
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "1h",
    },
    {
        "receiver": EMAIL_CRITICAL,
        "matchers": ['severity="critical"'],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "1h",
    },
    # High does not page: every high alert (they all share severity="high", hence that grouping) goes
    # into one email an hour; unchanged ones are repeated every 4 hours. Medium, low and info only reach
    # the webhook (metamon's alert list and Grafana show them).
    {
        "receiver": EMAIL_HOURLY,
        "matchers": ['severity="high"'],
        "group_by": ["severity"],
        "group_wait": "5m",
        "group_interval": "1h",
        "repeat_interval": "4h",
    },
]

# Alerts that say a metamon component is down. (Alert names rather than a `component_down` label: the
# names are already the contract with the rules, and one matcher keeps the rule readable.)
COMPONENT_DOWN_ALERTS = ["MetamonExporterDown", "MetamonApiDown"]
# Quality alerts computed from what the exporter publishes and the API's agents compute: with either
# down, their metrics are stale or absent, so they would page about the outage, not about quality.
QUALITY_ALERTS = [
    "MetamonFactAccuracyLow",
    "MetamonFactAccuracyDropping",
    "MetamonGuardrailPassRateLow",
    "MetamonLatencyBudgetBurn",
    "MetamonEvaluationStale",
    "MetamonAnomalyScoreHigh",
]

INHIBIT_RULES: list[dict] = [
    # A critical alert already pages: the high one for the same alert and scope would only repeat it.
    {
        "source_matchers": ['severity="critical"'],
        "target_matchers": ['severity="high"'],
        "equal": ["alertname", "project", "app"],
    },
    # No `equal`: one exporter and one API serve every project, so their outage mutes every scope.
    {
        "source_matchers": [f'alertname=~"{"|".join(COMPONENT_DOWN_ALERTS)}"'],
        "target_matchers": [f'alertname=~"{"|".join(QUALITY_ALERTS)}"'],
    },
]

HEADER = (
    "# Rendered by `metamon alerting render` from monitoring/alerting/alertmanager_config.py and the\n"
    "# METAMON_* settings: change those, not this file. Secrets are never inline: they are files under\n"
    "# secrets/ (mode 0600, git-ignored), written by the same command.\n"
)


def webhook_url(settings: Settings) -> str:
    return f"{settings.api.public_base_url}/api/v1/alerts/webhook"


def _secret_values(settings: Settings) -> dict[str, str]:
    """The secret files this rendering needs: an unset Slack URL or SMTP password has none."""
    values = {WEBHOOK_TOKEN_FILE: settings.webhook_token()}
    if settings.notifications.slack_webhook_url:
        values[SLACK_URL_FILE] = settings.notifications.slack_webhook_url
    if settings.notifications.smtp_password:
        values[SMTP_PASSWORD_FILE] = settings.notifications.smtp_password
    return values


def _write_secret(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # O_CREAT's mode only applies to a new file
    # No trailing newline: Alertmanager does not strip every file it reads (auth_password_file).
    with os.fdopen(fd, "w") as handle:
        handle.write(value)


def write_secrets(settings: Settings, directory: Path) -> dict[str, Path]:
    """Write the secret files into `directory` (mode 0700); remove those this rendering no longer uses."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    values = _secret_values(settings)
    for name in (WEBHOOK_TOKEN_FILE, SLACK_URL_FILE, SMTP_PASSWORD_FILE):
        if name not in values:
            (directory / name).unlink(missing_ok=True)
    for name, value in values.items():
        _write_secret(directory / name, value)
    return {name: directory / name for name in values}


def _receivers(settings: Settings, secret: dict[str, str]) -> list[dict]:
    def email(name: str) -> dict:
        return {
            "name": name,
            "email_configs": [
                {
                    "to": ", ".join(settings.notifications.alert_email_to),
                    "send_resolved": True,
                    "headers": {"Subject": messages.EMAIL_SUBJECT},
                    "html": messages.EMAIL_HTML,
                    "text": messages.EMAIL_TEXT,
                }
            ],
        }

    receivers = [
        {
            "name": WEBHOOK,
            "webhook_configs": [
                {
                    "url": webhook_url(settings),
                    "send_resolved": True,  # resolved notifications resolve metamon's alerts
                    "http_config": {
                        "authorization": {"type": "Bearer", "credentials_file": secret[WEBHOOK_TOKEN_FILE]}
                    },
                }
            ],
        },
        email(EMAIL_CRITICAL),
        email(EMAIL_HOURLY),
    ]
    if SLACK_URL_FILE in secret:
        receivers.insert(
            1,
            {
                "name": SLACK_CRITICAL,
                "slack_configs": [
                    {
                        "api_url_file": secret[SLACK_URL_FILE],
                        "send_resolved": True,
                        "title": messages.SLACK_TITLE,
                        "title_link": messages.SLACK_TITLE_LINK,
                        "text": messages.SLACK_TEXT,
                        "color": messages.SLACK_COLOR,
                    }
                ],
            },
        )
    return receivers


def _global(settings: Settings, secret: dict[str, str]) -> dict:
    smtp = {
        "smtp_smarthost": f"{settings.notifications.smtp_host}:{settings.notifications.smtp_port}",
        "smtp_from": settings.notifications.smtp_from,
        # STARTTLS whenever credentials are sent, so a password never travels in clear (as with metamon's
        # own mail); none for the local server, which has no credentials and no TLS.
        "smtp_require_tls": bool(settings.notifications.smtp_username),
    }
    if settings.notifications.smtp_username:
        smtp["smtp_auth_username"] = settings.notifications.smtp_username
    if SMTP_PASSWORD_FILE in secret:
        smtp["smtp_auth_password_file"] = secret[SMTP_PASSWORD_FILE]
    return smtp


# The fast profile (live tests, the demo): the same routing with waits of seconds instead of minutes,
# matching the fast rules in prometheus/rules/fast/.
FAST_TIMINGS = {"group_wait": "1s", "group_interval": "2s"}


def build_config(settings: Settings, secret: dict[str, str], *, fast: bool = False) -> dict:
    """The config as a dict; `secret` maps each secret file name to the path the config refers to."""
    routes = [r for r in ROUTES if r["receiver"] != SLACK_CRITICAL or SLACK_URL_FILE in secret]
    if fast:
        routes = [r | FAST_TIMINGS for r in routes]
    return {
        "global": _global(settings, secret),
        "route": {
            # Never used while the first route matches everything; the webhook is the safe default.
            "receiver": WEBHOOK,
            "group_by": GROUP_BY,
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": INHIBIT_RULES,
        "receivers": _receivers(settings, secret),
        # Relative to the config's directory, where render() writes it.
        "templates": [messages.TEMPLATES_FILE],
    }


class _Dumper(yaml.SafeDumper):
    """Lists of plain values (group_by, matchers) on one line, as people write them; the rest as blocks."""

    def represent_list(self, data: list):
        flow = all(isinstance(item, str) for item in data)
        return self.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _Dumper.represent_list)


def render(
    settings: Settings, directory: Path, *, relative_secrets: bool = False, fast: bool = False
) -> Path:
    """Write `alertmanager.yml` and its secret files into `directory`; return the config's path.

    The config names the secret files by absolute path, or with `relative_secrets` as `secrets/<name>`
    (the committed rendering, Docker): Alertmanager 0.25 resolves some file paths against the config's
    directory and others (api_url_file) against its working directory, so it must run from there.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = write_secrets(settings, directory / SECRETS_DIR)
    secret = {
        name: f"{SECRETS_DIR}/{name}" if relative_secrets else str(path.resolve())
        for name, path in files.items()
    }
    (directory / messages.TEMPLATES_FILE).write_text(messages.TEMPLATES)
    config = build_config(settings, secret, fast=fast)
    text = HEADER + yaml.dump(config, Dumper=_Dumper, sort_keys=False, width=200)
    path = directory / CONFIG_NAME
    partial = path.with_name(f".{CONFIG_NAME}.tmp")
    partial.write_text(text)
    partial.replace(path)  # a reload never reads half a file
    return path
