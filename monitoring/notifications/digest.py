"""The daily digest email: a week of metric trends as PNG charts, open alerts, proposals awaiting review."""

import logging
from datetime import datetime, timedelta, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from metamon.agents.research.confidence import level
from metamon.monitoring.catalogue import MEASURES, MISSING, SEVERITIES
from metamon.monitoring.dashboards.uids import UIDS
from metamon.monitoring.db.models import (
    EvaluationRun,
    ImprovementProposal,
    MonitoringAlert,
    Project,
    ValidationResult,
)
from metamon.monitoring.notifications import charts
from metamon.monitoring.notifications.smtp import send_email
from metamon.monitoring.settings import Settings

log = logging.getLogger(__name__)

TREND_PERIOD = timedelta(days=7)
OPEN_ALERT_STATUSES = ("firing", "acknowledged")
# Proposals a person should look at: not yet validated, or validated and waiting for a decision.
REVIEW_STATUSES = ("pending", "validated")
# Longer lists are cut; the mail says how many more there are and links to the full list.
MAX_ROWS = 50


# The measures the digest charts and tabulates, in the catalogue's order.
METRICS = tuple(m for m in MEASURES if m.digest)


def build_digest(session: Session, settings: Settings, *, now: datetime) -> EmailMessage:
    """The digest as of `now` (timezone-aware; its zone is the one the mail shows times in)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = now.tzinfo
    start = now - TREND_PERIOD
    runs = _app_runs(session, start, now)
    chart_images = _charts(runs, start, now, tz)
    alerts, alerts_total = _open_alerts(session, settings, tz)
    proposals, proposals_total = _proposals_to_review(session, settings)
    charted = {image["metric"] for image in chart_images}
    api = _api(settings)

    subject = (
        f"metamon digest {now.date().isoformat()}: {_count(alerts_total, 'open alert')}, "
        f"{_count(proposals_total, 'proposal')} to review"
    )
    context = {
        "subject": subject,
        "period_start": _when(start, tz),
        "period_end": _when(now, tz),
        "charts": [
            {
                "cid": image["cid"].strip("<>"),
                "title": image["metric"].title,
                "width": charts.WIDTH_PX,
                "height": charts.HEIGHT_PX,
            }
            for image in chart_images
        ],
        "metrics_without_data": [m.title for m in METRICS if m not in charted],
        "metrics": [m.title for m in METRICS],
        "latest": [
            {
                "app": label,
                "window_end": _when(app_runs[-1].window_end, tz),
                "values": [m.show(getattr(app_runs[-1], m.column)) for m in METRICS],
            }
            for label, app_runs in runs.items()
        ],
        "alerts": alerts,
        "alerts_more": alerts_total - len(alerts),
        "proposals": proposals,
        "proposals_more": proposals_total - len(proposals),
        "links": {
            "overview": _grafana(settings, UIDS["overview"]),
            "quality": _grafana(settings, UIDS["quality"]),
            "alerts": f"{api}/alerts",
            "proposals": f"{api}/proposals",
        },
    }

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.notifications.smtp_from
    if settings.notifications.digest_email_to:
        message["To"] = ", ".join(settings.notifications.digest_email_to)
    message["Date"] = format_datetime(now)
    # An explicit domain: the default asks DNS for this host's FQDN, which can stall.
    message["Message-ID"] = make_msgid("digest", domain=_sender_domain(settings))
    message.set_content(_templates().get_template("digest.txt").render(context))
    message.add_alternative(_templates().get_template("digest.html").render(context), subtype="html")
    html_part = message.get_payload()[1]
    for image in chart_images:
        html_part.add_related(
            image["png"],
            "image",
            "png",
            cid=image["cid"],
            disposition="inline",
            filename=f"{image['metric'].column}.png",
        )
    return message


def send_digest(session: Session, settings: Settings, *, now: datetime | None = None) -> EmailMessage:
    """Build the digest and send it to `settings.notifications.digest_email_to`; returns what was sent."""
    if not settings.notifications.digest_email_to:
        raise ValueError("no digest recipients: set METAMON_DIGEST_EMAIL_TO")
    message = build_digest(session, settings, now=now or datetime.now().astimezone())
    send_email(message, settings)
    log.info(
        "digest sent", extra={"subject": message["Subject"], "to": settings.notifications.digest_email_to}
    )
    return message


def _app_runs(session: Session, start: datetime, end: datetime) -> dict[str, list[EvaluationRun]]:
    """App-wide windows ending in (start, end], oldest first, by app ("project/app" across projects)."""
    rows = session.execute(
        select(Project.slug, EvaluationRun)
        .join(Project, Project.id == EvaluationRun.project_id)
        .where(
            EvaluationRun.app.is_not(None),
            EvaluationRun.model.is_(None),
            EvaluationRun.domain.is_(None),
            EvaluationRun.window_end > start,
            EvaluationRun.window_end <= end,
        )
        .order_by(EvaluationRun.window_end)
    ).all()
    several_projects = len({slug for slug, _ in rows}) > 1
    runs: dict[str, list[EvaluationRun]] = {}
    for slug, run in rows:
        runs.setdefault(f"{slug}/{run.app}" if several_projects else run.app, []).append(run)
    return dict(sorted(runs.items()))


def _charts(
    runs: dict[str, list[EvaluationRun]], start: datetime, end: datetime, tz: tzinfo
) -> list[dict[str, Any]]:
    images = []
    for metric in METRICS:
        series = {}
        for label, app_runs in runs.items():
            values = [(run.window_end, getattr(run, metric.column)) for run in app_runs]
            if points := [(when, value) for when, value in values if value is not None]:
                series[label] = points
        if not series:
            continue
        png = charts.trend_png(
            metric.title,
            metric.ylabel,
            series,
            start=start,
            end=end,
            tz=tz,
            percent=metric.format == "ratio",
        )
        cid = make_msgid(metric.column, domain="metamon.digest")
        images.append({"metric": metric, "png": png, "cid": cid})
    return images


def _open_alerts(session: Session, settings: Settings, tz: tzinfo) -> tuple[list[dict[str, str]], int]:
    query = select(MonitoringAlert).where(MonitoringAlert.status.in_(OPEN_ALERT_STATUSES))
    severity_rank = case({s: i for i, s in enumerate(SEVERITIES)}, value=MonitoringAlert.severity)
    alerts = session.scalars(
        query.order_by(severity_rank, MonitoringAlert.starts_at.desc()).limit(MAX_ROWS)
    ).all()
    rows = [
        {
            "alertname": alert.alertname,
            "severity": alert.severity,
            "status": alert.status,
            "project": str(alert.labels.get("project", MISSING)),
            "app": str(alert.labels.get("app", MISSING)),
            "starts_at": _when(alert.starts_at, tz),
            "summary": str(alert.annotations.get("summary", "")),
            "link": _alert_link(alert, settings),
        }
        for alert in alerts
    ]
    return rows, _total(session, query)


def _alert_link(alert: MonitoringAlert, settings: Settings) -> str:
    url = alert.annotations.get("dashboard_url")
    # Only web links: an annotation is free text, and a javascript: URL survives HTML escaping.
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return url
    scope = {k: str(alert.labels[k]) for k in ("project", "app") if k in alert.labels}
    return _grafana(settings, UIDS["overview"], **scope)


def _proposals_to_review(session: Session, settings: Settings) -> tuple[list[dict[str, str]], int]:
    query = (
        select(ImprovementProposal, Project.slug)
        .join(Project, Project.id == ImprovementProposal.project_id)
        .where(ImprovementProposal.status.in_(REVIEW_STATUSES))
    )
    # Validated ones first: they wait for a decision; then the biggest expected gain.
    rows = session.execute(
        query.order_by(
            (ImprovementProposal.status == "validated").desc(),
            ImprovementProposal.expected_improvement.desc().nulls_last(),
            ImprovementProposal.created_at,
        ).limit(MAX_ROWS)
    ).all()
    latest_validation = {
        result.proposal_id: result
        for result in session.scalars(
            select(ValidationResult)
            .where(ValidationResult.proposal_id.in_([proposal.id for proposal, _ in rows]))
            .order_by(ValidationResult.started_at)
        )
    }
    api = _api(settings)
    items = [
        {
            "title": proposal.title,
            "type": proposal.proposal_type,
            "project": slug,
            "app": proposal.app or MISSING,
            "status": proposal.status,
            "expected_improvement": _expected(proposal),
            "confidence": _confidence(proposal),
            "validation": _validation(proposal, latest_validation.get(proposal.id)),
            "link": f"{api}/proposals/{proposal.id}",
        }
        for proposal, slug in rows
    ]
    return items, _total(session, query)


def _confidence(proposal: ImprovementProposal) -> str:
    if proposal.confidence is None:
        return MISSING
    provisional = ", provisional" if proposal.evidence.get("provisional") else ""
    return f"{level(proposal.confidence)} ({proposal.confidence:.2f}{provisional})"


def _expected(proposal: ImprovementProposal) -> str:
    if proposal.expected_improvement is None:
        return MISSING
    metric = proposal.root_cause.get("metric")
    return f"{proposal.expected_improvement:+.3g}" + (f" {metric}" if metric else "")


def _validation(proposal: ImprovementProposal, result: ValidationResult | None) -> str:
    if result is None:
        return "validated" if proposal.status == "validated" else "not validated yet"
    outcome = {True: "passed", False: "failed"}.get(result.passed, result.status)
    text = f"{outcome} on {result.case_count} golden cases"
    if result.score_delta_mean is not None:
        text += f"; score delta {result.score_delta_mean:+.3f}"
        if result.score_delta_ci_low is not None and result.score_delta_ci_high is not None:
            text += f" (95% CI {result.score_delta_ci_low:+.3f} to {result.score_delta_ci_high:+.3f})"
    if result.mcnemar_p_value is not None:
        text += f"; McNemar p = {result.mcnemar_p_value:.3g}"
    return text


def _total(session: Session, query: Select) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery()))


def _api(settings: Settings) -> str:
    return f"{settings.api.public_base_url}/api/v1"


def _grafana(settings: Settings, uid: str, **variables: str) -> str:
    url = f"{settings.notifications.grafana_url.rstrip('/')}/d/{uid}"
    return f"{url}?{urlencode({f'var-{k}': v for k, v in variables.items()})}" if variables else url


def _when(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _sender_domain(settings: Settings) -> str:
    return parseaddr(settings.notifications.smtp_from)[1].rpartition("@")[2] or "metamon"


@lru_cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader(__package__, "templates"),
        # HTML is escaped everywhere (alert labels and summaries are anyone's text); .txt stays plain.
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
