"""All models, imported here so `Base.metadata` knows every table (Alembic reads it)."""

from monitoring.db.base import Base
from monitoring.db.models.alerts import MonitoringAlert
from monitoring.db.models.audit import AuditLog, Outbox
from monitoring.db.models.evaluations import EvaluationRun, TraceEvaluation
from monitoring.db.models.projects import ApiKey, Project
from monitoring.db.models.proposals import AppConfig, ImprovementImpact, ImprovementProposal, ValidationResult
from monitoring.db.models.review import GoldenCase, ReviewLabel
from monitoring.db.models.traces import Span, Trace

__all__ = [
    "ApiKey",
    "AppConfig",
    "AuditLog",
    "Base",
    "EvaluationRun",
    "GoldenCase",
    "ImprovementImpact",
    "ImprovementProposal",
    "MonitoringAlert",
    "Outbox",
    "Project",
    "ReviewLabel",
    "Span",
    "Trace",
    "TraceEvaluation",
    "ValidationResult",
]
