"""The evaluation agent: score what is not scored yet, then write the evaluation runs of the window."""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from langchain_core.language_models import BaseChatModel
from sqlalchemy.orm import Session, sessionmaker

from metamon.agents.evaluation.registry import build_evaluators
from metamon.agents.evaluation.runs import write_runs
from metamon.agents.evaluation.scoring import score_pending
from metamon.monitoring.db.models import EvaluationRun
from metamon.monitoring.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluationReport:
    scored: int
    runs: list[EvaluationRun]


def evaluate(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    project_id: uuid.UUID | None = None,
    trigger: str = "scheduled",
    window: timedelta | None = None,
    now: datetime | None = None,
    limit: int | None = None,
    chat_model: BaseChatModel | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvaluationReport:
    scored = score_pending(
        sessions,
        build_evaluators(settings, chat_model),
        batch_size=settings.evaluation.batch_size,
        project_id=project_id,
        limit=limit,
        progress=progress,
    )
    with sessions() as session, session.begin():
        runs = write_runs(
            session,
            end=now or datetime.now(UTC),
            window=window or timedelta(seconds=settings.evaluation.window_seconds),
            baseline_days=settings.evaluation.baseline_days,
            project_id=project_id,
            trigger=trigger,
        )
    log.info("evaluation", extra={"scored": scored, "runs": len(runs), "trigger": trigger})
    return EvaluationReport(scored, runs)
