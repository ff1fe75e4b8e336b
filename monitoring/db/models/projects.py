"""Projects and the API keys that act for them."""

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, CheckConstraint, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from metamon.monitoring.db.base import Base, created_at, uuid_pk

SCOPES = ("ingest", "read", "review", "admin")


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()
    # Who receives the project's daily digest; None: the global METAMON_DIGEST_EMAIL_TO.
    digest_email_to: Mapped[list[str] | None] = mapped_column(ARRAY(Text))

    api_keys: Mapped[list["ApiKey"]] = relationship(back_populates="project", cascade="all, delete-orphan")


class ApiKey(Base):
    """A key is shown once; only its SHA-256 is stored. `prefix` finds the row without scanning."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(f"scopes <@ ARRAY{list(SCOPES)}::text[]", name="scopes_known"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    created_at: Mapped[datetime] = created_at()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    project: Mapped[Project] = relationship(back_populates="api_keys")
