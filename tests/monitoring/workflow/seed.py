"""A prompt regression happening now: support-bot's new prompt v3 fails fact accuracy 60% of the time
in the last hour, while v2 failed 5% in the week before and still does."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from metamon.monitoring.db.models import AppConfig, Project
from metamon.monitoring.db.session import session_scope
from tests.agents.research.data import add_traces


def prompt_regression_now(database_url: str, slug: str) -> uuid.UUID:
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        project_id = session.scalar(select(Project.id).where(Project.slug == slug))
        week, hour = (now - timedelta(days=7), now - timedelta(hours=1)), (now - timedelta(minutes=50), now)
        add_traces(session, project_id, start=week[0], end=week[1], n=700, failures=35, prompt_version="v2")
        add_traces(session, project_id, start=hour[0], end=hour[1], n=200, failures=10, prompt_version="v2")
        add_traces(session, project_id, start=hour[0], end=hour[1], n=100, failures=60, prompt_version="v3")
        # The app runs v3 today; reading four passages.
        session.add(
            AppConfig(
                project_id=project_id,
                app="support-bot",
                version=1,
                is_active=True,
                config={"prompt_version": "v3", "top_k": 4},
            )
        )
    return project_id
