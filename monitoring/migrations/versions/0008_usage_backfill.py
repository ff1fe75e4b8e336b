"""usage counters count backfilled traces apart

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 13:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ["project_id", "app", "model", "status"]


def upgrade() -> None:
    # What was counted before is kept as live traffic: the counters must never go down.
    op.add_column(
        "usage_counters", sa.Column("backfill", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.alter_column("usage_counters", "backfill", server_default=None)
    op.drop_constraint("pk_usage_counters", "usage_counters", type_="primary")
    op.create_primary_key("pk_usage_counters", "usage_counters", [*KEY, "backfill"])


def downgrade() -> None:
    # Backfilled counts fold back into the live ones.
    op.execute(
        """
        INSERT INTO usage_counters AS u (project_id, app, model, status, backfill, requests, sla_violations,
            input_tokens, output_tokens, cost_usd, latency_buckets, latency_count, latency_sum, created_at)
        SELECT project_id, app, model, status, false, requests, sla_violations, input_tokens, output_tokens,
            cost_usd, latency_buckets, latency_count, latency_sum, created_at
        FROM usage_counters WHERE backfill
        ON CONFLICT (project_id, app, model, status, backfill) DO UPDATE SET
            requests = u.requests + EXCLUDED.requests,
            sla_violations = u.sla_violations + EXCLUDED.sla_violations,
            input_tokens = u.input_tokens + EXCLUDED.input_tokens,
            output_tokens = u.output_tokens + EXCLUDED.output_tokens,
            cost_usd = u.cost_usd + EXCLUDED.cost_usd,
            latency_buckets = ARRAY(SELECT a + b FROM unnest(u.latency_buckets, EXCLUDED.latency_buckets)
                WITH ORDINALITY AS t(a, b, i) ORDER BY i),
            latency_count = u.latency_count + EXCLUDED.latency_count,
            latency_sum = u.latency_sum + EXCLUDED.latency_sum
        """
    )
    op.execute("DELETE FROM usage_counters WHERE backfill")
    op.drop_constraint("pk_usage_counters", "usage_counters", type_="primary")
    op.create_primary_key("pk_usage_counters", "usage_counters", KEY)
    op.drop_column("usage_counters", "backfill")
