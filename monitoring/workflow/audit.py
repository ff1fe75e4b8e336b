"""Every state change of an alert, proposal or config lands in the audit log, in the same transaction."""

import uuid

from sqlalchemy.orm import Session

from metamon.monitoring.db.models import AuditLog


def record(
    session: Session,
    *,
    project_id: uuid.UUID | None,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | str,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    session.add(
        AuditLog(
            project_id=project_id,
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            before=before,
            after=after,
        )
    )
