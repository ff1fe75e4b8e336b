"""Engine and session factory, one per process, built from the settings."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache

import orjson
from psycopg.types.json import set_json_loads
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection, QueuePool

from metamon.monitoring.db.connect import open_bounded, timeout_options
from metamon.monitoring.settings import get_settings

# JSONB columns (contexts, metadata, payloads) decode with orjson: several times faster than json.
set_json_loads(orjson.loads)


# Called with the seconds each checkout waited for a connection (the API exports them as a histogram).
checkout_wait_observers: list[Callable[[float], None]] = []


class ObservedQueuePool(QueuePool):
    """SQLAlchemy's QueuePool, telling `checkout_wait_observers` how long each checkout waited."""

    def connect(self) -> PoolProxiedConnection:
        start = time.perf_counter()
        try:
            return super().connect()
        finally:
            waited = time.perf_counter() - start
            for observe in checkout_wait_observers:
                observe(waited)


# Per process: 10 kept, 10 more under bursts. A request holds one connection at a time, so an API worker
# needs at most as many as it runs requests at once (its in-flight limit).
POOL_SIZE, POOL_OVERFLOW = 10, 10


@lru_cache
def get_engine(url: str | None = None) -> Engine:
    settings = get_settings()
    url = url or settings.database.url
    engine = create_engine(
        url,
        poolclass=ObservedQueuePool,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=settings.database.pool_timeout_seconds,
        connect_args=timeout_options(url, settings),
    )

    @event.listens_for(engine, "do_connect")
    def _bounded(dialect, record, cargs, cparams):
        return open_bounded(settings, *cargs, **cparams)

    return engine


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
