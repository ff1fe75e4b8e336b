"""A plain psycopg connection from a SQLAlchemy URL, for what the ORM does not do: server probes,
CREATE DATABASE (which cannot run in a transaction) and COPY; and the timeouts every connection gets."""

import psycopg
from psycopg.errors import _WaitTimeout  # what Connection.wait raises at its timeout (psycopg >= 3.3)
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


class BoundedConnection(psycopg.Connection):
    """A connection that waits at most `answer_within` seconds for the server on any one exchange (a
    statement, a COPY, a commit, a ping). The server's statement_timeout cannot fire when the server
    itself is stopped (a paused VM, SIGSTOP, a frozen disk) and the kernel keeps acknowledging the
    socket, so without this a request waits as long as the server does. Past the limit the connection
    is closed: SQLAlchemy sees a disconnect, drops it from the pool, and the API answers 503."""

    answer_within: float | None = None

    def wait(self, gen, *args, **kwargs):
        if args[1:] or "timeout" in kwargs or self.answer_within is None:  # the caller bounds it itself
            return super().wait(gen, *args, **kwargs)
        try:
            return super().wait(gen, *args, timeout=self.answer_within, **kwargs)
        except _WaitTimeout:
            self.close()
            raise psycopg.OperationalError(
                f"the database server did not answer within {self.answer_within:g} s"
            ) from None


def answer_within(settings: Settings) -> float:
    """The client-side limit on one exchange: past the server's own statement timeout, so that a live
    server always answers first (with its error)."""
    return settings.database.statement_timeout_seconds + settings.database.connect_timeout_seconds


def open_bounded(settings: Settings, *args, **kwargs) -> BoundedConnection:
    conn = BoundedConnection.connect(*args, **kwargs)
    conn.answer_within = answer_within(settings)
    return conn


def connect(database_url: str, **options) -> psycopg.Connection:
    url = make_url(database_url)
    query = {k: v if isinstance(v, str) else v[-1] for k, v in url.query.items()}
    return open_bounded(
        get_settings(),
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        **(timeout_options(database_url, get_settings()) | query | options),
    )
