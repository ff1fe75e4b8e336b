"""evaluator errors on trace evaluations and their counter; the unscored-traces index per project;
dead letters of the search index

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


UNEVALUATED = sa.text("evaluated_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_traces_unevaluated", table_name="traces", postgresql_where=UNEVALUATED)
    op.create_index(
        "ix_traces_unevaluated_project",
        "traces",
        ["project_id", "timestamp"],
        unique=False,
        postgresql_where=UNEVALUATED,
    )
    op.add_column("trace_evaluations", sa.Column("error", sa.Text(), nullable=True))
    op.add_column(
        "evaluation_counters", sa.Column("errors", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.create_table(
        "index_dead_letters",
        sa.Column("trace_id", sa.UUID(), nullable=False),
        sa.Column("project_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "last_failed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_index_dead_letters_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["trace_id"],
            ["traces.id"],
            name=op.f("fk_index_dead_letters_trace_id_traces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trace_id", name=op.f("pk_index_dead_letters")),
    )
    op.create_index(
        op.f("ix_index_dead_letters_project_id"), "index_dead_letters", ["project_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_index_dead_letters_project_id"), table_name="index_dead_letters")
    op.drop_table("index_dead_letters")
    op.drop_column("evaluation_counters", "errors")
    op.drop_column("trace_evaluations", "error")
    op.drop_index("ix_traces_unevaluated_project", table_name="traces", postgresql_where=UNEVALUATED)
    op.create_index(
        "ix_traces_unevaluated", "traces", ["timestamp"], unique=False, postgresql_where=UNEVALUATED
    )
