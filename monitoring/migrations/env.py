"""Alembic environment: migrations run online against the URL given by `metamon db` (or the settings)."""

from alembic import context
from sqlalchemy import create_engine, pool

from metamon.monitoring.db.models import Base
from metamon.monitoring.settings import get_settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().database.url

engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
