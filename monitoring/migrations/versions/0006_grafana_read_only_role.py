"""a SELECT-only role for Grafana over the tables the dashboards read

Grafana runs the SQL its dashboards (and anyone who can edit one) give it, so its PostgreSQL
datasource logs in as this role rather than as the database owner. The role is cluster-wide: it is
created (NOLOGIN) only where it does not exist yet and the migrating user may create roles; whoever
runs Grafana gives it a password (`ALTER ROLE metamon_grafana LOGIN PASSWORD '...'`; the compose stack's
PostgreSQL init script creates it with one). Downgrading revokes the grants and keeps the role, which
other databases of the cluster may use.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 13:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "metamon_grafana"
# What the dashboards' PostgreSQL panels read (api_keys and the traces are not among them).
TABLES = (
    "projects",
    "monitoring_alerts",
    "improvement_proposals",
    "validation_results",
    "improvement_impact",
    "review_labels",
)


def upgrade() -> None:
    op.execute(f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
    BEGIN
      CREATE ROLE {ROLE} NOLOGIN;
    EXCEPTION
      WHEN duplicate_object THEN NULL;  -- created meanwhile by a migration of another database
      WHEN insufficient_privilege THEN
        RAISE NOTICE 'role {ROLE} not created (no CREATEROLE): create it and run the grants of 0006';
        RETURN;
    END;
  END IF;
  GRANT SELECT ON {", ".join(TABLES)} TO {ROLE};
END $$""")


def downgrade() -> None:
    op.execute(f"""
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
    REVOKE ALL ON {", ".join(TABLES)} FROM {ROLE};
  END IF;
END $$""")
