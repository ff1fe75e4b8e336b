"""Engine and session factory, one per process, built from the settings."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import orjson
from psycopg.types.json import set_json_loads
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from metamon.monitoring.settings import get_settings

# JSONB columns (contexts, metadata, payloads) decode with orjson: several times faster than json.
set_json_loads(orjson.loads)


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    return create_engine(url or get_settings().database_url, pool_pre_ping=True, pool_size=10)


@lru_cache
def session_factory(url: str | None = None) -> sessionmaker[Session]:
    # One per URL and process: building a sessionmaker sets up SQLAlchemy's event dispatch, which cost
    # more than the webhook's own statement when it was done per request.
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with session_factory(url)() as session, session.begin():
        yield session
