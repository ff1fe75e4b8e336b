"""A validation target that records, on each call, the proposal's status as another connection sees it."""

from sqlalchemy import select

from metamon.monitoring.db.models import ImprovementProposal
from metamon.monitoring.db.session import session_scope
from metamon.monitoring.demo.sample_app import answer

watched: dict = {"database_url": None, "proposal_id": None, "seen": set()}


def observe(input: str, retrieved_context: list[dict], config: dict) -> dict:
    with session_scope(watched["database_url"]) as session:
        status = session.scalar(
            select(ImprovementProposal.status).where(ImprovementProposal.id == watched["proposal_id"])
        )
    watched["seen"].add(status)
    return answer(input, retrieved_context, config)
