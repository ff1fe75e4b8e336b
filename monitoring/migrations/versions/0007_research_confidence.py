"""proposals carry a confidence, a revision number and when research last ran for them

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("improvement_proposals", sa.Column("confidence", sa.Float(), nullable=True))
    op.add_column(
        "improvement_proposals",
        sa.Column("revision", sa.Integer(), server_default=sa.text("1"), nullable=False),
    )
    op.add_column(
        "improvement_proposals", sa.Column("researched_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    for column in ("researched_at", "revision", "confidence"):
        op.drop_column("improvement_proposals", column)
