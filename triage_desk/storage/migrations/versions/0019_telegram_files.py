"""message_edits: a person's edits of a stored message (Telegram edited_message), each with
the text it replaced

Revision ID: 0019_telegram_files
Revises: 0018_link_codes
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_telegram_files"
down_revision: str | None = "0018_link_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_edits",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text_before", sa.Text(), nullable=False),
        sa.Column("text_after", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_edits_message_id_messages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_edits")),
        sa.UniqueConstraint("message_id", "edited_at", name=op.f("uq_message_edits_message_id")),
    )
    op.create_index(
        op.f("ix_message_edits_message_id"), "message_edits", ["message_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_message_edits_message_id"), table_name="message_edits")
    op.drop_table("message_edits")
