"""A plain psycopg connection from a SQLAlchemy URL, for what the ORM does not do: server probes,
CREATE DATABASE (which cannot run in a transaction) and COPY; and the timeouts every connection gets."""

import psycopg
from sqlalchemy.engine import make_url

from metamon.monitoring.settings import Settings, get_settings


def timeout_options(database_url: str, settings: Settings) -> dict:
    """libpq options bounding the connect and each statement, from the settings, unless the URL's
    query sets them itself."""
    query = make_url(database_url).query
    options = {}
    if "connect_timeout" not in query:
        options["connect_timeout"] = max(2, settings.database.connect_timeout_seconds)
    if "options" not in query:
        options["options"] = f"-c statement_timeout={int(settings.database.statement_timeout_seconds * 1000)}"
    return options


def connect(database_url: str, **options) -> psycopg.Connection:
    url = make_url(database_url)
    query = {k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        **(timeout_options(database_url, get_settings()) | query | options),
    )
