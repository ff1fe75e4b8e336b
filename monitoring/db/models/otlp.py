"""GenAI content logged (OTLP log records) before the span it belongs to arrived."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from metamon.monitoring.db.base import Base, created_at


class PendingContent(Base):
    __tablename__ = "otlp_pending_content"

    trace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"), primary_key=True)
    span_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    input: Mapped[str | None] = mapped_column(Text)
    output: Mapped[str | None] = mapped_column(Text)
    system: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
