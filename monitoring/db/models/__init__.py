"""All models, imported here so `Base.metadata` knows every table (Alembic reads it)."""

from metamon.monitoring.db.base import Base
from metamon.monitoring.db.models.alerts import MonitoringAlert
from metamon.monitoring.db.models.audit import AuditLog, IndexDeadLetter, Outbox
from metamon.monitoring.db.models.evaluations import EvaluationRun, TraceEvaluation
from metamon.monitoring.db.models.monitor import MonitorFinding
from metamon.monitoring.db.models.otlp import PendingContent
from metamon.monitoring.db.models.projects import ApiKey, Project
from metamon.monitoring.db.models.proposals import (
    AppConfig,
    ImprovementImpact,
    ImprovementProposal,
    ValidationResult,
)
from metamon.monitoring.db.models.review import GoldenCase, ReviewLabel
from metamon.monitoring.db.models.scheduler import SchedulerRun
from metamon.monitoring.db.models.traces import Span, Trace
from metamon.monitoring.db.models.usage import EvaluationCounter, UsageCounter

__all__ = [
    "ApiKey",
    "AppConfig",
    "AuditLog",
    "Base",
    "EvaluationCounter",
    "EvaluationRun",
    "GoldenCase",
    "ImprovementImpact",
    "ImprovementProposal",
    "IndexDeadLetter",
    "MonitorFinding",
    "MonitoringAlert",
    "Outbox",
    "PendingContent",
    "Project",
    "ReviewLabel",
    "SchedulerRun",
    "Span",
    "Trace",
    "TraceEvaluation",
    "UsageCounter",
    "ValidationResult",
]
