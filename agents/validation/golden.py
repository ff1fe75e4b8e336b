"""The golden dataset: the cases shipped with metamon plus the project's own rows of `golden_cases`
(promoted from expert labels). A project row wins over a shipped case with the same key."""

import json
import uuid
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from metamon.monitoring.db.models import GoldenCase

# Built by tools/build_golden_cases.py (a development tool); the data is what ships.
SHIPPED = files(__package__) / "data" / "golden_cases.jsonl"


@dataclass(frozen=True)
class Case:
    case_key: str
    input: str
    reference: dict
    retrieved_context: list[dict] = field(default_factory=list)
    tags: tuple[str, ...] = ()
    app: str | None = None  # None: a case for any app
    source: str = "shipped"


@cache
def shipped_cases() -> tuple[Case, ...]:
    cases = []
    for line in SHIPPED.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        cases.append(
            Case(
                case_key=row["case_key"],
                input=row["input"],
                reference=row["reference"],
                retrieved_context=row["retrieved_context"],
                tags=tuple(row["tags"]),
                app=row.get("app"),
            )
        )
    return tuple(cases)


def project_cases(session: Session, project_id: uuid.UUID, app: str | None = None) -> list[Case]:
    stmt = select(GoldenCase).where(GoldenCase.project_id == project_id).order_by(GoldenCase.case_key)
    if app is not None:
        stmt = stmt.where(or_(GoldenCase.app.is_(None), GoldenCase.app == app))
    return [
        Case(
            case_key=row.case_key,
            input=row.input,
            reference=row.reference or {},
            retrieved_context=row.retrieved_context or [],
            tags=tuple(row.tags or ()),
            app=row.app,
            source=row.source,
        )
        for row in session.scalars(stmt)
    ]


def load_cases(
    session: Session,
    project_id: uuid.UUID,
    *,
    app: str | None = None,
    tags: list[str] | None = None,
    include_shipped: bool = True,
) -> list[Case]:
    """Shipped and project cases, one per case_key, in key order. `app` keeps the cases of that app and
    those for any app; `tags` keeps the cases carrying at least one of them."""
    by_key: dict[str, Case] = {}
    if include_shipped:
        by_key |= {c.case_key: c for c in shipped_cases() if app is None or c.app in (None, app)}
    by_key |= {c.case_key: c for c in project_cases(session, project_id, app)}
    wanted = set(tags or ())
    return [c for _, c in sorted(by_key.items()) if not wanted or wanted & set(c.tags)]
