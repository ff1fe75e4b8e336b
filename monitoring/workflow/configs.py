"""App configs: the versions a target app reads from `GET /api/v1/configs/{app}`, and the candidate
config a proposal's recommended change makes of the active one."""

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import AppConfig

# How each recommended change type edits an app config; types not listed change no config (e.g.
# "investigate_segment"), so there is nothing to validate or roll out for them.
PATCHES = {
    "rollback_prompt_version": lambda c: {"prompt_version": c["to_version"]},
    "switch_model": lambda c: {"model": c["to_model"]},
    "change_retrieval_source": lambda c: {"retrieval_source": c["to_source"]},
    "adjust_retrieval": lambda c: (
        ({"top_k": c["top_k_to"]} if c.get("top_k_to") is not None else {})
        | ({"chunk_long_inputs": True} if c.get("chunk_long_inputs") else {})
    ),
    "scale_and_timeout": lambda c: {"timeout_seconds": c["timeout_seconds"]},
    "add_retry_and_fallback": lambda c: {
        "max_retries": c["max_retries"],
        "fallback_model": c.get("fallback_model"),
    },
}


def active_config(session: Session, project_id: uuid.UUID, app: str) -> AppConfig | None:
    return session.scalar(
        select(AppConfig).where(AppConfig.project_id == project_id, AppConfig.app == app, AppConfig.is_active)
    )


def candidate_config(active: dict, change: dict) -> dict | None:
    """The active config with the change applied, or None when the change is not a config change."""
    patch = PATCHES.get(change.get("type", ""))
    if patch is None:
        return None
    return active | patch(change)
