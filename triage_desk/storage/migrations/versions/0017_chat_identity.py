"""chat_settings (a chat's chosen language) and link_tokens (one-time links of a chat to a
known requester)

Revision ID: 0017_chat_identity
Revises: 0016_telegram_intake
Create Date: 2026-12-07 16:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_chat_identity"
down_revision: str | None = "0016_telegram_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "chat_settings",
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("desk", sa.String(64), nullable=False),
        sa.Column("chat", sa.String(320), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "desk", "chat", name=op.f("pk_chat_settings")),
    )
    op.create_table(
        "link_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("requester_id", ID, nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by", sa.String(320), nullable=True),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["requesters.id"],
            name=op.f("fk_link_tokens_requester_id_requesters"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_link_tokens_token_hash")),
    )


def downgrade() -> None:
    op.drop_table("link_tokens")
    op.drop_table("chat_settings")
