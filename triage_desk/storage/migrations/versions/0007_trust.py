"""trust: content digests, undeliverable marks with a time, configured representative names,
outbox recipients counted by base address

Revision ID: 0007_trust
Revises: 0009_db
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_trust"
down_revision: str | None = "0009_db"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def base_address(channel: str, address: str) -> str:
    """As ``responders.outbox.recipient_key`` does at this revision: ``a+x@d`` → ``a@d``."""
    if channel != "email" or "@" not in address:
        return address
    local, domain = address.rsplit("@", 1)
    return f"{local.split('+', 1)[0] or local}@{domain}".lower()


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("content_digest", sa.String(length=64), nullable=True))
    with op.batch_alter_table("requester_addresses") as batch:
        batch.add_column(sa.Column("undeliverable_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("memberships") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=300), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("recipient_key", sa.String(length=320), nullable=True))
        batch.drop_index("ix_outbox_recipient_created")
        batch.create_index("ix_outbox_recipient_key_created", ["recipient_key", "created_at"])
        batch.create_index("ix_outbox_sender_created", ["sender", "created_at"])
    _backfill_recipient_keys()


def _backfill_recipient_keys() -> None:
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.BigInteger()),
        sa.column("channel", sa.String()),
        sa.column("recipient", sa.String()),
        sa.column("recipient_key", sa.String()),
    )
    connection = op.get_bind()
    connection.execute(sa.update(outbox).values(recipient_key=outbox.c.recipient))
    rows = connection.execute(
        sa.select(outbox.c.id, outbox.c.channel, outbox.c.recipient).where(
            outbox.c.recipient.like("%+%")
        )
    ).all()
    for item_id, channel, recipient in rows:
        connection.execute(
            sa.update(outbox)
            .where(outbox.c.id == item_id)
            .values(recipient_key=base_address(channel, recipient))
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_sender_created")
        batch.drop_index("ix_outbox_recipient_key_created")
        batch.create_index("ix_outbox_recipient_created", ["recipient", "created_at"])
        batch.drop_column("recipient_key")
    with op.batch_alter_table("memberships") as batch:
        batch.drop_column("display_name")
    with op.batch_alter_table("requester_addresses") as batch:
        batch.drop_column("undeliverable_at")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("content_digest")
