"""outbox: what a chat channel delivered of an item, part by part, and the attempts the
channel refused for rate (Telegram's 429), which do not count against max_attempts

Revision ID: 0015_telegram_sent
Revises: 0014_inbound_queue
Create Date: 2026-12-07 15:00:00

The inbound-queue branch adds 0014; whichever merges second points its down_revision at the
other's revision so the history stays one line.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015_telegram_sent"
down_revision: str | None = "0014_inbound_queue"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Items queued before have delivered nothing of themselves and were never throttled.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column(
                "delivered_parts",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                server_default=sa.text("'[]'"),
                nullable=False,
            )
        )
        batch.add_column(sa.Column("throttled", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("throttled")
        batch.drop_column("delivered_parts")
