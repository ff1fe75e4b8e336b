"""Fixtures on the real stack that `metamon stack up` started (PostgreSQL, Elasticsearch, Prometheus...).

Each test session gets its own freshly migrated database, so tests never touch the demo's data.
"""

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import uvicorn
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from metamon.monitoring.api.deps import current_settings
from metamon.monitoring.api.main import create_app
from metamon.monitoring.db import migrate
from metamon.monitoring.db.connect import connect
from metamon.monitoring.db.session import session_factory, session_scope
from metamon.monitoring.keys import create_key
from metamon.monitoring.search import indexer
from metamon.monitoring.search.client import get_es
from metamon.monitoring.search.indices import delete_trace_indices, ensure_indices
from metamon.monitoring.settings import Settings, get_settings
from metamon.monitoring.stack.services import stack_services

METAMON = str(Path(sys.executable).parent / "metamon")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reaches the stack goes through `base_settings`, so that fixture marks it `stack`:
    `pytest -m "not stack"` is the pure suite, which needs no server."""
    for item in items:
        if "base_settings" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.stack)


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    settings = get_settings()
    down = [
        f"{svc.name}: {result.detail}"
        for svc in stack_services(settings)
        if not svc.app and not (result := svc.probe()).healthy
    ]
    if down:
        pytest.exit(f"the stack is not up (run `metamon stack up`): {'; '.join(down)}", returncode=3)
    return settings


def _admin(settings: Settings) -> psycopg.Connection:
    return connect(settings.database.maintenance_url, autocommit=True)


def create_database(settings: Settings, name: str) -> str:
    with _admin(settings) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(settings.database.url).set(database=name).render_as_string(hide_password=False)


def drop_database(settings: Settings, name: str) -> None:
    with _admin(settings) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def empty_database(base_settings: Settings) -> Iterator[str]:
    """A brand-new database with nothing in it; dropped afterwards."""
    name = f"metamon_test_empty_{uuid.uuid4().hex[:8]}"
    yield create_database(base_settings, name)
    drop_database(base_settings, name)


@pytest.fixture(scope="session")
def database_url(base_settings: Settings) -> Iterator[str]:
    """This test session's database, migrated to head."""
    name = f"metamon_test_{os.getpid()}"
    url = create_database(base_settings, name)
    migrate.upgrade(url)
    yield url
    drop_database(base_settings, name)


@pytest.fixture(scope="session")
def settings(base_settings: Settings, database_url: str) -> Iterator[Settings]:
    """The stack's settings pointed at this session's database and its own traces alias."""
    test_settings = base_settings.model_copy(
        update={"database_url": database_url, "traces_index_alias": f"metamon-test{os.getpid()}-traces"}
    )
    yield test_settings
    es = get_es(test_settings.search.url)
    delete_trace_indices(es, test_settings)
    es.options(ignore_status=404).indices.delete_index_template(name=test_settings.search.traces_index_alias)


@pytest.fixture(scope="session")
def es(settings: Settings) -> Elasticsearch:
    client = get_es(settings.search.url)
    ensure_indices(client, settings)
    return client


def _key_maker(database_url: str):
    def make(project: str = "acme", scopes: tuple[str, ...] = ("ingest", "read", "review")) -> dict[str, str]:
        with session_scope(database_url) as session:
            _, plaintext = create_key(session, project, list(scopes))
        return {"Authorization": f"Bearer {plaintext}"}

    return make


@pytest.fixture
def make_key(database_url: str):
    """make_key(project, scopes) -> Authorization headers for a new key of that project."""
    return _key_maker(database_url)


@pytest.fixture(scope="module")
def key_module(database_url: str):
    return _key_maker(database_url)


def _drainer(settings: Settings, es: Elasticsearch):
    def run() -> int:
        indexed = indexer.drain(settings, es, session_factory(settings.database.url))
        if indexed:
            es.indices.refresh(index=settings.search.traces_index_alias)
        return indexed

    return run


@pytest.fixture
def drain(settings: Settings, es: Elasticsearch):
    """drain() indexes every pending outbox row now and refreshes, as the indexer would in a moment."""
    return _drainer(settings, es)


@pytest.fixture(scope="module")
def drain_module(settings: Settings, es: Elasticsearch):
    return _drainer(settings, es)


def rolled_back_session(database_url: str) -> Iterator[Session]:
    """A session whose work is rolled back afterwards, even what it committed."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()
    engine.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Session]:
    """A session whose work is rolled back after the test, even what it committed."""
    yield from rolled_back_session(database_url)


@pytest.fixture(scope="module")
def private_database_url(base_settings: Settings) -> Iterator[str]:
    """A database of the module's own, migrated: for tests that read the whole database, such as the
    digest, which other tests' committed rows would otherwise change."""
    name = f"metamon_test_private_{uuid.uuid4().hex[:8]}"
    url = create_database(base_settings, name)
    migrate.upgrade(url)
    yield url
    drop_database(base_settings, name)


def _client(settings: Settings) -> Iterator[TestClient]:
    app = create_app()
    app.dependency_overrides[current_settings] = lambda: settings
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from _client(settings)


@pytest.fixture(scope="module")
def client_module(settings: Settings) -> Iterator[TestClient]:
    yield from _client(settings)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_api(settings: Settings, port: int):
    """Serve the API with real uvicorn in a thread; returns a function that stops it."""
    app = create_app()
    app.dependency_overrides[current_settings] = lambda: settings
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(5)

    return stop


@pytest.fixture(scope="session")
def live_api(settings: Settings) -> Iterator[str]:
    """The API on a real uvicorn and a free port (for clients that need a URL), on the test settings."""
    port = free_port()
    stop = serve_api(settings, port)
    yield f"http://127.0.0.1:{port}"
    stop()


def run_metamon(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run the real `metamon` command line, as a user would."""
    return subprocess.run(
        [METAMON, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "250", "NO_COLOR": "1", **(env or {})},
    )


# The seeded project the exporter and dashboard tests read (defined beside its data).
from tests.populated import populated  # noqa: E402, F401

# The server wheel installed outside the checkout (the wheel and compose tests share one build).
from tests.wheel import installed_wheel  # noqa: E402, F401
