"""The daily digest email, one per project to that project's recipients: a week of metric trends as PNG
charts, open alerts (grouped by alert and scope), proposals awaiting review."""

import logging
from datetime import datetime, timedelta, tzinfo
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import Select, and_, func, select
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
from metamon.monitoring.notifications.recipients import digest_recipients
from metamon.monitoring.notifications.smtp import EmailDeliveryError, send_email
from metamon.monitoring.settings import Settings

log = logging.getLogger(__name__)

TREND_PERIOD = timedelta(days=7)
OPEN_ALERT_STATUSES = ("firing", "acknowledged")
# Proposals a person should look at: not yet validated, or validated and waiting for a decision.
REVIEW_STATUSES = ("pending", "validated")
# The labels that say where an alert is (its scope): alerts that differ in nothing else are grouped.
SCOPE_LABELS = ("app", "model", "domain")
# Longer lists are cut; the mail says how many more there are and links to the full list.
MAX_ROWS = 50


# The measures the digest charts and tabulates, in the catalogue's order.
METRICS = tuple(m for m in MEASURES if m.digest)


def build_digest(session: Session, settings: Settings, project: Project, *, now: datetime) -> EmailMessage:
    """`project`'s digest as of `now` (timezone-aware; its zone is the one the mail shows times in)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = now.tzinfo
    start = now - TREND_PERIOD
    runs = _app_runs(session, project, start, now)
    chart_images = _charts(runs, tz)
    alerts, alerts_total = _open_alerts(session, settings, project, tz)
    proposals, proposals_total = _proposals_to_review(session, settings, project)
    charted = {image["metric"] for image in chart_images}
    api = _api(settings)
    latest = [
        {
            "app": app,
            "window_end": _when(app_runs[-1].window_end, tz),
            "values": [m.show(getattr(app_runs[-1], m.column)) for m in METRICS],
        }
        for app, app_runs in runs.items()
    ]

    subject = (
        f"metamon digest {now.date().isoformat()} for {project.slug}: {_count(alerts_total, 'open alert')}, "
        f"{_count(proposals_total, 'proposal')} to review"
    )
    context = {
        "subject": subject,
        "project": project.slug,
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
        "folded": len(runs) > charts.MAX_LINES + 1,
        "max_lines": charts.MAX_LINES,
        "metrics_without_data": [m.title for m in METRICS if m not in charted],
        "metrics": [m.title for m in METRICS],
        "latest": latest[:MAX_ROWS],
        "latest_more": len(latest) - MAX_ROWS if len(latest) > MAX_ROWS else 0,
        "alerts": alerts,
        "alerts_more": alerts_total - len(alerts),
        "proposals": proposals,
        "proposals_more": proposals_total - len(proposals),
        "links": {
            "overview": _grafana(settings, UIDS["overview"], project=project.slug),
            "quality": _grafana(settings, UIDS["quality"], project=project.slug),
            "alerts": f"{api}/alerts",
            "proposals": f"{api}/proposals",
        },
    }

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.notifications.smtp_from
    if recipients := digest_recipients(project, settings):
        message["To"] = ", ".join(recipients)
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


def send_digest(
    session: Session, settings: Settings, project: Project, *, now: datetime | None = None
) -> EmailMessage:
    """Build `project`'s digest and send it to its recipients; returns what was sent."""
    recipients = digest_recipients(project, settings)
    if not recipients:
        raise ValueError(
            f"no digest recipients for project {project.slug}: set them with PUT "
            "/api/v1/projects/current/digest-recipients, or set METAMON_DIGEST_EMAIL_TO"
        )
    message = build_digest(session, settings, project, now=now or datetime.now().astimezone())
    send_email(message, settings)
    log.info("digest sent", extra={"subject": message["Subject"], "to": recipients})
    return message


def projects_with_news(session: Session, *, now: datetime) -> list[Project]:
    """Projects with something to tell: app-wide runs in the period, open alerts or proposals to review.
    The others get no mail (a server with a project per demo run would send a stack of empty ones)."""
    start = now - TREND_PERIOD
    active = (
        select(EvaluationRun.project_id)
        .where(_app_wide(), EvaluationRun.window_end > start, EvaluationRun.window_end <= now)
        .union(
            select(MonitoringAlert.project_id).where(MonitoringAlert.status.in_(OPEN_ALERT_STATUSES)),
            select(ImprovementProposal.project_id).where(ImprovementProposal.status.in_(REVIEW_STATUSES)),
        )
    )
    return list(session.scalars(select(Project).where(Project.id.in_(active)).order_by(Project.slug)))


def send_digests(session: Session, settings: Settings, *, now: datetime | None = None) -> list[EmailMessage]:
    """One digest per project with news, each to its own recipients. A project whose mail fails does not
    stop the others; the first failure is raised once every project was tried."""
    now = now or datetime.now().astimezone()
    sent, failures = [], []
    for project in projects_with_news(session, now=now):
        try:
            sent.append(send_digest(session, settings, project, now=now))
        except (EmailDeliveryError, ValueError) as exc:
            log.error("digest not sent", extra={"project": project.slug, "error": str(exc)})
            failures.append(exc)
    if failures:
        raise failures[0]
    return sent


def _app_wide():
    return and_(EvaluationRun.app.is_not(None), EvaluationRun.model.is_(None), EvaluationRun.domain.is_(None))


def _app_runs(
    session: Session, project: Project, start: datetime, end: datetime
) -> dict[str, list[EvaluationRun]]:
    """The project's app-wide windows ending in (start, end], oldest first, by app."""
    rows = session.scalars(
        select(EvaluationRun)
        .where(
            EvaluationRun.project_id == project.id,
            _app_wide(),
            EvaluationRun.window_end > start,
            EvaluationRun.window_end <= end,
        )
        .order_by(EvaluationRun.window_end)
    ).all()
    runs: dict[str, list[EvaluationRun]] = {}
    for run in rows:
        runs.setdefault(run.app, []).append(run)
    return dict(sorted(runs.items()))


def _charts(runs: dict[str, list[EvaluationRun]], tz: tzinfo) -> list[dict[str, Any]]:
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
            tz=tz,
            percent=metric.format == "ratio",
            higher_is_better=metric.higher_is_better,
        )
        cid = make_msgid(metric.column, domain="metamon.digest")
        images.append({"metric": metric, "png": png, "cid": cid})
    return images


def _open_alerts(
    session: Session, settings: Settings, project: Project, tz: tzinfo
) -> tuple[list[dict[str, str]], int]:
    """One row per alert and scope (app, model, domain): re-fired rows, the severities of one rule and the
    windows of a burn-rate alert are one thing to look at. Most severe first, then the latest."""
    alerts = session.scalars(
        select(MonitoringAlert)
        .where(MonitoringAlert.project_id == project.id, MonitoringAlert.status.in_(OPEN_ALERT_STATUSES))
        .order_by(MonitoringAlert.starts_at.desc())
    ).all()
    groups: dict[tuple, list[MonitoringAlert]] = {}
    for alert in alerts:
        scope = tuple(str(alert.labels.get(label, "")) for label in SCOPE_LABELS)
        groups.setdefault((alert.alertname, scope), []).append(alert)
    rank = {s: i for i, s in enumerate(SEVERITIES)}

    def worst(members: list[MonitoringAlert]) -> str:
        return min((a.severity for a in members), key=lambda s: rank.get(s, len(rank)))

    # Most severe first, then the one that fired last (members are newest first).
    ordered = sorted(
        groups.items(), key=lambda g: (rank.get(worst(g[1]), len(rank)), -g[1][0].starts_at.timestamp())
    )
    rows = [
        {
            "alertname": alertname,
            "severity": worst(members),
            "status": "firing" if any(a.status == "firing" for a in members) else "acknowledged",
            "scope": ", ".join(f"{k} {v}" for k, v in zip(SCOPE_LABELS, scope, strict=True) if v)
            or "whole project",
            "count": len(members),
            "since": _when(min(a.starts_at for a in members), tz),
            "latest": _when(members[0].starts_at, tz),
            "summary": str(members[0].annotations.get("summary", "")),
            "link": _alert_link(members[0], settings),
        }
        for (alertname, scope), members in ordered
    ]
    return rows[:MAX_ROWS], len(rows)


def _alert_link(alert: MonitoringAlert, settings: Settings) -> str:
    url = alert.annotations.get("dashboard_url")
    # Only web links: an annotation is free text, and a javascript: URL survives HTML escaping.
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return url
    scope = {k: str(alert.labels[k]) for k in ("project", "app") if k in alert.labels}
    return _grafana(settings, UIDS["overview"], **scope)


def _proposals_to_review(
    session: Session, settings: Settings, project: Project
) -> tuple[list[dict[str, str]], int]:
    query = select(ImprovementProposal).where(
        ImprovementProposal.project_id == project.id, ImprovementProposal.status.in_(REVIEW_STATUSES)
    )
    # Validated ones first: they wait for a decision; then the biggest expected gain.
    rows = session.scalars(
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
            .where(ValidationResult.proposal_id.in_([proposal.id for proposal in rows]))
            .order_by(ValidationResult.started_at)
        )
    }
    api = _api(settings)
    items = [
        {
            "title": proposal.title,
            "type": proposal.proposal_type,
            "app": proposal.app or MISSING,
            "status": proposal.status,
            "expected_improvement": _expected(proposal),
            "confidence": _confidence(proposal),
            "validation": _validation(proposal, latest_validation.get(proposal.id)),
            "link": f"{api}/proposals/{proposal.id}",
        }
        for proposal in rows
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
