"""prompts: versioned system prompts beside model versions; audit and feedback rows name the prompt used

Revision ID: 0003_prompt_versions
Revises: 0002_models_unique_version
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_prompt_versions"
down_revision = "0002_models_unique_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("template", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("eval", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("promoted_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["prompts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_prompts_name", "prompts", ["name"], unique=False)
    op.create_index("uq_prompts_name_version", "prompts", ["name", "version"], unique=True)
    for table in ("audit", "feedback"):  # nullable: rows written before prompts existed used none
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("prompt_name", sa.String(length=128), nullable=True))
            batch.add_column(sa.Column("prompt_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in ("feedback", "audit"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("prompt_version")
            batch.drop_column("prompt_name")
    op.drop_index("uq_prompts_name_version", table_name="prompts")
    op.drop_index("ix_prompts_name", table_name="prompts")
    op.drop_table("prompts")
