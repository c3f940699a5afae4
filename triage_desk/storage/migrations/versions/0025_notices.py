"""notices, notice_clients and notice_recipients (notices of a planned change to clients'
designated representatives, terms clause 23)

Revision ID: 0025_notices
Revises: 0021_console_users
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_notices"
down_revision: str | None = "0024_api"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("desk", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("change_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("key", name=op.f("uq_notices_key")),
    )
    op.create_table(
        "notice_clients",
        sa.Column("notice_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_clients_notice_id_notices")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_notice_clients_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("notice_id", "client_id", name=op.f("pk_notice_clients")),
    )
    op.create_table(
        "notice_recipients",
        sa.Column("id", ID, nullable=False),
        sa.Column("notice_id", ID, nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("requester_id", ID, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("outbox_id", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notices.id"], name=op.f("fk_notice_recipients_notice_id_notices")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_notice_recipients_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["requesters.id"],
            name=op.f("fk_notice_recipients_requester_id_requesters"),
        ),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["outbox.id"], name=op.f("fk_notice_recipients_outbox_id_outbox")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_recipients")),
        sa.UniqueConstraint(
            "notice_id", "channel", "address", name=op.f("uq_notice_recipients_notice_id")
        ),
    )
    op.create_index(
        op.f("ix_notice_recipients_notice_id"), "notice_recipients", ["notice_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notice_recipients_notice_id"), table_name="notice_recipients")
    op.drop_table("notice_recipients")
    op.drop_table("notice_clients")
    op.drop_table("notices")
