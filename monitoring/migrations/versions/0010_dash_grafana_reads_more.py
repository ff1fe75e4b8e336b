"""Grafana's read-only role reads what the new dashboards show

The alerts, proposals, review and metamon-itself dashboards read the audit log, the outbox's and the
scheduler's bookkeeping, and a few columns of the traces and their evaluations (ids, time, verdicts:
never a trace's input, output or context, nor an outbox payload). Column grants keep it that way.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "metamon_grafana"
TABLES = ("audit_log", "scheduler_runs")
COLUMNS = {
    "traces": ("id", "project_id", "timestamp"),
    "trace_evaluations": ("trace_id", "project_id", "evaluator", "passed", "score"),
    "outbox": ("topic", "attempts", "available_at", "processed_at", "created_at"),
}


def _grants(verb: str, to_from: str) -> str:
    statements = [f"{verb} SELECT ON {', '.join(TABLES)} {to_from} {ROLE};"]
    statements += [f"{verb} SELECT ({', '.join(c)}) ON {t} {to_from} {ROLE};" for t, c in COLUMNS.items()]
    return "\n    ".join(statements)


def _where_the_role_exists(statements: str) -> None:
    # The role of 0006 may be missing (created without CREATEROLE): then there is nothing to grant.
    op.execute(f"""
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
    {statements}
  END IF;
END $$""")


def upgrade() -> None:
    _where_the_role_exists(_grants("GRANT", "TO"))


def downgrade() -> None:
    _where_the_role_exists(_grants("REVOKE", "FROM"))
