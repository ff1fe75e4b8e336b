"""Counters behind the exporter's `_total` series. They live in PostgreSQL, so they survive restarts,
agree across API workers and replicas, and keep counting after retention deletes old traces."""

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, BigInteger, Boolean, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from metamon.monitoring.db.base import Base, created_at


class UsageCounter(Base):
    """Requests counted once per trace, when the trace is first complete (see monitoring/usage.py)."""

    __tablename__ = "usage_counters"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    app: Mapped[str] = mapped_column(String(200), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    # Traces that arrived long after their timestamp (a backfill, an SDK flushing its backlog): counted
    # apart so that they never feed the rate counters the alerts page on.
    backfill: Mapped[bool] = mapped_column(Boolean, primary_key=True, default=False)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    sla_violations: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    # Latency histogram: cumulative counts per bucket bound of settings.usage.latency_buckets_seconds.
    latency_buckets: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list)
    latency_count: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_sum: Mapped[float] = mapped_column(Float, default=0.0)
    # When the exporter caps a label, the values first seen keep their series (see exporter/labels.py).
    created_at: Mapped[datetime] = created_at()


class EvaluationCounter(Base):
    """Evaluations performed, failed and errored (the evaluator raised), per app and evaluator (the
    evaluation agent adds to them)."""

    __tablename__ = "evaluation_counters"

    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    app: Mapped[str] = mapped_column(String(200), primary_key=True)
    evaluator: Mapped[str] = mapped_column(String(100), primary_key=True)
    evaluations: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = created_at()
