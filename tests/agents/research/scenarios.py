"""Seeded situations shared by the research tests: a baseline week, then a one-day window."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from tests.agents.research.data import add_traces

T = datetime(2025, 6, 10, tzinfo=UTC)
WINDOW = (T, T + timedelta(days=1))
BASELINE = (T - timedelta(days=7), T)
V7_REASON = "contradicted: refund window is 30 days, answer says 14"


def prompt_regression(db: Session, project: uuid.UUID) -> None:
    """support-bot: v6 fails 5% in the baseline and the window; v7, new in the window, fails 60%.
    Window: 2 domains x (200 v6 with 10 failures + 100 v7 with 60) = 600 traces, 140 failures."""
    for domain in ("billing", "shipping"):
        add_traces(db, project, start=BASELINE[0], end=BASELINE[1], n=700, failures=35, domain=domain)
        add_traces(db, project, start=WINDOW[0], end=WINDOW[1], n=200, failures=10, domain=domain)
        add_traces(
            db,
            project,
            start=WINDOW[0],
            end=WINDOW[1],
            n=100,
            failures=60,
            domain=domain,
            prompt_version="v7",
            reason=V7_REASON,
        )
    # Outside the alert's scope (another app) and outside both windows: neither may count.
    add_traces(db, project, start=WINDOW[0], end=WINDOW[1], n=300, failures=250, app="search-bot")
    add_traces(
        db,
        project,
        start=T - timedelta(days=30),
        end=T - timedelta(days=20),
        n=300,
        failures=300,
        prompt_version="v7",
    )


def model_regression(db: Session, project: uuid.UUID) -> None:
    """Guardrails, whole project: gpt-4o-mini fails 50% in the window (6% in the baseline); gpt-4o
    and claude-3-5-sonnet stay at 5% and 4%. Window: 600 traces, 118 failures."""
    pii = '{"failed": {"pii": ["email"]}}'
    for model, base_failures, window_failures in (
        ("gpt-4o", 35, 10),
        ("gpt-4o-mini", 42, 100),
        ("claude-3-5-sonnet", 28, 8),
    ):
        for start, end, n, failures in ((*BASELINE, 700, base_failures), (*WINDOW, 200, window_failures)):
            add_traces(
                db,
                project,
                start=start,
                end=end,
                n=n,
                failures=failures,
                evaluator="guardrails",
                model=model,
                reason="pii: ['email']",
                details=pii,
            )


def noise(db: Session, project: uuid.UUID) -> None:
    """5% in the baseline, 6% in the window, spread evenly over prompt versions and domains."""
    for domain in ("billing", "shipping"):
        add_traces(db, project, start=BASELINE[0], end=BASELINE[1], n=700, failures=35, domain=domain)
        for version in ("v6", "v7"):
            add_traces(
                db,
                project,
                start=WINDOW[0],
                end=WINDOW[1],
                n=150,
                failures=9,
                domain=domain,
                prompt_version=version,
            )
