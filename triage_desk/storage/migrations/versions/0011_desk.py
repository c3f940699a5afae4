"""desk: a quarantined mail staff discard keeps its row, with who, when and why

Revision ID: 0011_desk
Revises: 0007_trust
Create Date: 2026-12-15 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_desk"
down_revision: str | None = "0007_trust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("discarded_by", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("discard_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # A discarded mail stays kept: below this revision it is held again.
    op.execute("UPDATE quarantine SET status = 'held' WHERE status = 'discarded'")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("discard_reason")
        batch.drop_column("discarded_at")
        batch.drop_column("discarded_by")
