"""one evaluation run per scope and window; counters remember when their labels were first seen

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:11:27.611307
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPE_WINDOW = ["project_id", "app", "model", "domain", "window_start", "window_end"]


def upgrade() -> None:
    for table in ("evaluation_counters", "usage_counters"):
        op.add_column(
            table,
            sa.Column(
                "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
            ),
        )
    # Earlier versions wrote a new run each time a window was evaluated again: keep the newest.
    op.execute(
        """
        DELETE FROM evaluation_runs r USING evaluation_runs newer
        WHERE (r.project_id, r.app, r.window_start, r.window_end)
            = (newer.project_id, newer.app, newer.window_start, newer.window_end)
            AND r.model IS NOT DISTINCT FROM newer.model AND r.domain IS NOT DISTINCT FROM newer.domain
            AND (r.created_at, r.id::text) < (newer.created_at, newer.id::text)
        """
    )
    op.create_index(
        "uq_evaluation_runs_scope_window",
        "evaluation_runs",
        SCOPE_WINDOW,
        unique=True,
        postgresql_nulls_not_distinct=True,
    )


def downgrade() -> None:
    op.drop_index("uq_evaluation_runs_scope_window", table_name="evaluation_runs")
    for table in ("usage_counters", "evaluation_counters"):
        op.drop_column(table, "created_at")
