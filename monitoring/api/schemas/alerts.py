"""Alerts: Alertmanager's notifications as stored, their statistics, and who acknowledges or resolves."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Alert(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    alertname: str
    status: str
    severity: str
    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None
    labels: dict[str, Any]
    annotations: dict[str, Any]
    generator_url: str | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    notification_count: int
    notified_receivers: list[str]


class AlertPage(BaseModel):
    total: int
    items: list[Alert]


class AlertCount(BaseModel):
    alertname: str
    count: int


class AlertStats(BaseModel):
    total: int
    by_status: dict[str, int]
    open_by_severity: dict[str, int]
    top_open: list[AlertCount]
    mean_time_to_resolve_seconds: float | None


class Actor(BaseModel):
    by: str = Field(min_length=1, max_length=200, description="Who does it.")


class WebhookReceipt(BaseModel):
    received: int = Field(description="Alerts in the notification.")
    new: int = Field(description="Alerts stored for the first time.")
    updated: int = Field(description="Alerts already stored, counted once more.")
