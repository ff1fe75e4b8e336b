"""Alerts received from Alertmanager, with who acknowledged or resolved them and who was notified."""

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from metamon.monitoring.catalogue import SEVERITIES
from metamon.monitoring.db.base import Base, check_in, created_at, updated_at, uuid_pk

ALERT_STATUSES = ("firing", "acknowledged", "resolved")


class MonitoringAlert(Base):
    __tablename__ = "monitoring_alerts"
    __table_args__ = (
        # Alertmanager re-sends the same alert; (fingerprint, starts_at) identifies one occurrence.
        UniqueConstraint("fingerprint", "starts_at"),
        CheckConstraint(check_in("status", ALERT_STATUSES), name="status_known"),
        CheckConstraint(check_in("severity", SEVERITIES), name="severity_known"),
        Index("ix_monitoring_alerts_status_severity", "status", "severity"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    project_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    alertname: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(16), default="firing")
    severity: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    labels: Mapped[dict] = mapped_column(default=dict)
    annotations: Mapped[dict] = mapped_column(default=dict)
    generator_url: Mapped[str | None] = mapped_column(Text)
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Notification tracking: how often Alertmanager delivered it to us, and to which receivers.
    notification_count: Mapped[int] = mapped_column(Integer, default=0)
    last_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    notified_receivers: Mapped[list] = mapped_column(default=list)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
