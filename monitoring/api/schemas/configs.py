"""An app's configs: the active one, the candidate of a rollout in progress, and a release."""

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ActiveConfig(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    config: dict[str, Any]


class CandidateConfig(ActiveConfig):
    rollout_percent: int = Field(description="Share of the app's requests it serves.")
    proposal_id: uuid.UUID | None


class AppConfigs(BaseModel):
    app: str
    active: ActiveConfig | None
    candidate: CandidateConfig | None


class Release(BaseModel):
    config: dict = Field(description="The app's whole config (prompt_version, model, top_k, ...).")
    by: str = Field(min_length=1, max_length=200)
