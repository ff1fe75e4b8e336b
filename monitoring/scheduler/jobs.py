"""What the scheduler runs. Each job is a plain function of the settings, so `metamon scheduler` and
tests call the same code."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from metamon.agents.evaluation.agent import evaluate
from metamon.agents.monitor.agent import monitor
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.notifications.digest import send_digests
from metamon.monitoring.retention import apply_retention
from metamon.monitoring.search.client import get_es
from metamon.monitoring.settings import Settings
from metamon.monitoring.workflow.rollout_monitor import check_rollouts


def evaluate_incremental(settings: Settings) -> None:
    """Score what arrived since the last run and write the runs of the trailing window."""
    evaluate(settings, session_factory(settings.database.url), trigger="scheduled")


def evaluate_daily(settings: Settings) -> None:
    """The daily full run: yesterday (midnight to midnight in the scheduler's zone) as one window per
    scope, so a repeated run updates the same runs."""
    midnight = datetime.now(ZoneInfo(settings.scheduler.timezone)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    evaluate(
        settings,
        session_factory(settings.database.url),
        trigger="daily",
        window=timedelta(days=1),
        now=midnight,
    )


def monitor_apps(settings: Settings) -> None:
    """Anomaly findings, then each rollout's stage check. Two transactions: a rollout that fails to move
    must not cost the exporter its fresh findings, nor the reverse."""
    with session_scope(settings.database.url) as session:
        monitor(session, settings)
    with session_scope(settings.database.url) as session:
        check_rollouts(session, settings)


def retention(settings: Settings) -> None:
    apply_retention(settings, session_factory(settings.database.url), get_es(settings.search.url))


def digest(settings: Settings) -> None:
    """The daily digest emails, one per project (trends, open alerts, proposals awaiting review)."""
    with session_scope(settings.database.url) as session:
        send_digests(session, settings)
