"""suggestion stage and deferred refinement

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.add_column(
            sa.Column("stage", sa.String(length=16), server_default="fast", nullable=False)
        )
        batch.add_column(
            sa.Column("needs_refinement", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.create_index(
            batch.f("ix_suggestions_needs_refinement"), ["needs_refinement"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.drop_index(batch.f("ix_suggestions_needs_refinement"))
        batch.drop_column("needs_refinement")
        batch.drop_column("stage")
