"""runners: a refiner's claim on a suggestion; the outbox's unused sent_at goes

Revision ID: 0012_runners
Revises: 0011_desk
Create Date: 2026-12-20 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_runners"
down_revision: str | None = "0011_desk"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("suggestions") as batch:
        batch.add_column(sa.Column("refining_until", sa.DateTime(timezone=True), nullable=True))
    # Written by the dispatcher, read by nothing: a sent item's status says it was sent.
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sent_at")


def downgrade() -> None:
    # The instants are gone; below this revision nothing read them either.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("suggestions") as batch:
        batch.drop_column("refining_until")
