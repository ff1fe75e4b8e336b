"""Migrations: `upgrade head` on an empty database builds the models' schema; `downgrade base` removes it."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from metamon.monitoring.db import migrate
from metamon.monitoring.db.models import Base


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_head_creates_every_table_then_downgrade_base_removes_them(empty_database):
    assert _tables(empty_database) == set()

    migrate.upgrade(empty_database)
    assert migrate.current_revision(empty_database) is not None
    assert _tables(empty_database) == set(Base.metadata.tables) | {"alembic_version"}

    migrate.downgrade(empty_database, "base")
    assert migrate.current_revision(empty_database) is None
    assert _tables(empty_database) == {"alembic_version"}

    migrate.upgrade(empty_database)  # and back up again, cleanly
    assert _tables(empty_database) == set(Base.metadata.tables) | {"alembic_version"}


def test_models_and_migrations_do_not_drift(database_url):
    """A model change without a migration (or the reverse) fails here: autogenerate finds nothing to do."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_tables_have_indexes_on_filtered_columns(database_url):
    engine = create_engine(database_url)
    inspector = inspect(engine)
    indexed = {
        table: {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        | {tuple(uc["column_names"]) for uc in inspector.get_unique_constraints(table)}
        for table in ("traces", "monitoring_alerts", "improvement_proposals", "outbox", "review_labels")
    }
    engine.dispose()
    assert ("project_id", "timestamp") in indexed["traces"]
    assert ("project_id", "external_id") in indexed["traces"]
    assert ("fingerprint", "starts_at") in indexed["monitoring_alerts"]
    assert ("status", "severity") in indexed["monitoring_alerts"]
    assert ("project_id", "root_cause_key") in indexed["improvement_proposals"]
    assert ("topic", "available_at", "id") in indexed["outbox"]
    assert ("trace_id", "reviewer") in indexed["review_labels"]
