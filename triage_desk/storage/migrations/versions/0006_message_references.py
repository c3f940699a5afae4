"""message references: an original stored after its reply joins the reply's ticket

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_ID = 512  # messages.external_id's length: a longer id can never be matched
MAX_REFERENCES = 10


def referenced_ids(in_reply_to: str | None, references: list[str]) -> list[str]:
    """As intake writes them at this revision (``repositories.referenced_ids``); kept here so
    that this migration does the same whatever that function becomes."""
    ids = [in_reply_to, *references[-MAX_REFERENCES:]]
    return list(dict.fromkeys(i for i in ids if i and len(i) <= MAX_ID))


def upgrade() -> None:
    op.create_table(
        "message_references",
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("referenced_id", sa.String(length=MAX_ID), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_references_message_id_messages"),
        ),
        sa.PrimaryKeyConstraint("message_id", "referenced_id", name=op.f("pk_message_references")),
    )
    op.create_index(
        "ix_message_references_lookup",
        "message_references",
        ["channel", "referenced_id"],
        unique=False,
    )
    _backfill()


def _backfill() -> None:
    """The references of the inbound messages already stored, as intake now writes them."""
    messages = sa.table(
        "messages",
        sa.column("id", sa.BigInteger()),
        sa.column("direction", sa.String()),
        sa.column("channel", sa.String()),
        sa.column("in_reply_to", sa.String()),
        sa.column("references", sa.JSON()),
    )
    target = sa.table(
        "message_references",
        sa.column("message_id", sa.BigInteger()),
        sa.column("referenced_id", sa.String()),
        sa.column("channel", sa.String()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            messages.c.id, messages.c.channel, messages.c.in_reply_to, messages.c["references"]
        )
        .where(messages.c.direction == "in")
        .order_by(messages.c.id)
    )
    batch: list[dict] = []
    for message_id, channel, in_reply_to, references in rows:
        batch.extend(
            {"message_id": message_id, "referenced_id": i, "channel": channel}
            for i in referenced_ids(in_reply_to, references or [])
        )
        if len(batch) >= 1000:
            connection.execute(sa.insert(target), batch)
            batch = []
    if batch:
        connection.execute(sa.insert(target), batch)


def downgrade() -> None:
    op.drop_index("ix_message_references_lookup", table_name="message_references")
    op.drop_table("message_references")
