"""mail spool: processing starts counted before the work, so a mail that kills the process
is found out

Revision ID: 0013_spool_starts
Revises: 0012_runners
Create Date: 2026-12-21 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_spool_starts"
down_revision: str | None = "0012_runners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Mail spooled before it has no start counted: it is taken in as any other.
    with op.batch_alter_table("mail_spool") as batch:
        batch.add_column(sa.Column("starts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("mail_spool") as batch:
        batch.drop_column("starts")
