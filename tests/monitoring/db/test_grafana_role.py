"""Grafana's PostgreSQL role reads what the dashboards show, and nothing else, and cannot write."""

import psycopg
import pytest

from metamon.monitoring.db import migrate
from metamon.monitoring.db.connect import connect
from tests.monitoring.dashboards.test_dashboards import sql_cases

ROLE = "metamon_grafana"


def as_grafana(database_url: str, statement: str):
    with connect(database_url) as conn, conn.transaction(force_rollback=True):
        conn.execute(f"SET LOCAL ROLE {ROLE}")
        return conn.execute(statement).fetchall()


def test_every_dashboard_query_runs_as_the_grafana_role(database_url):
    try:
        cases = sql_cases(lambda sql: as_grafana(database_url, sql))
        assert len(cases) >= 40
        for where, sql in cases:
            try:
                as_grafana(database_url, sql)
            except psycopg.errors.InsufficientPrivilege as exc:
                pytest.fail(f"{where}: {exc}")
    except psycopg.errors.InsufficientPrivilege as exc:  # a variable's own query
        pytest.fail(str(exc))


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT secret_hash FROM api_keys",
        "SELECT input FROM traces",
        "SELECT output FROM traces",
        "SELECT reason FROM trace_evaluations",
        "SELECT payload FROM outbox",
        "UPDATE improvement_proposals SET status = 'approved'",
        "DELETE FROM monitoring_alerts",
        "INSERT INTO projects (id, slug, name) VALUES (gen_random_uuid(), 'x', 'x')",
    ],
)
def test_the_grafana_role_cannot_read_keys_or_traces_nor_write(database_url, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_grafana(database_url, statement)


def test_downgrading_revokes_the_grants_and_upgrading_restores_them(empty_database):
    migrate.upgrade(empty_database)
    assert as_grafana(empty_database, "SELECT count(*) FROM projects") == [(0,)]
    assert as_grafana(empty_database, "SELECT count(*) FROM audit_log") == [(0,)]
    migrate.downgrade(empty_database, "0009")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_grafana(empty_database, "SELECT count(*) FROM audit_log")
    assert as_grafana(empty_database, "SELECT count(*) FROM projects") == [(0,)]
    migrate.downgrade(empty_database, "0005")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_grafana(empty_database, "SELECT count(*) FROM projects")
    migrate.upgrade(empty_database)
    assert as_grafana(empty_database, "SELECT count(*) FROM projects") == [(0,)]
