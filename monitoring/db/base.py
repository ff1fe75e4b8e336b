"""Declarative base shared by every model."""

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, DateTime, MetaData, any_, bindparam, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names, so Alembic migrations can drop what they created.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict: JSONB, list: JSONB, uuid.UUID: UUID(as_uuid=True)}


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(primary_key=True, default=uuid.uuid4)


def created_at() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def updated_at() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


def check_in(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK that `column` holds one of `values` (enums stay plain text, easy to extend)."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def among(column, ids: list[uuid.UUID]):
    """`column = ANY(:ids)` with one array parameter: an IN list of thousands of ids costs more to
    render and parse than the query costs to run."""
    return column == any_(bindparam("ids", ids, type_=ARRAY(UUID(as_uuid=True)), unique=True))
