"""All models, imported here so `Base.metadata` knows every table (Alembic reads it)."""

from monitoring.db.base import Base
from monitoring.db.models.alerts import MonitoringAlert
from monitoring.db.models.audit import AuditLog, Outbox
from monitoring.db.models.evaluations import EvaluationRun, TraceEvaluation
from monitoring.db.models.monitor import MonitorFinding
from monitoring.db.models.projects import ApiKey, Project
from monitoring.db.models.proposals import AppConfig, ImprovementImpact, ImprovementProposal, ValidationResult
from monitoring.db.models.review import GoldenCase, ReviewLabel
from monitoring.db.models.scheduler import SchedulerRun
from monitoring.db.models.traces import Span, Trace
from monitoring.db.models.usage import EvaluationCounter, UsageCounter

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
    "MonitorFinding",
    "MonitoringAlert",
    "Outbox",
    "Project",
    "ReviewLabel",
    "SchedulerRun",
    "Span",
    "Trace",
    "TraceEvaluation",
    "UsageCounter",
    "ValidationResult",
]
