"""A plain psycopg connection from a SQLAlchemy URL, for what the ORM does not do: server probes,
CREATE DATABASE (which cannot run in a transaction) and COPY."""

import psycopg
from sqlalchemy.engine import make_url


def connect(database_url: str, **options) -> psycopg.Connection:
    url = make_url(database_url)
    return psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, dbname=url.database, **options
    )
