"""link_codes: a chat's ``/link <email>`` requests, the code mailed for a known address
(salted and hashed), its wrong tries, and what the rate limits count

Revision ID: 0018_link_codes
Revises: 0017_chat_identity
Create Date: 2026-12-09 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_link_codes"
down_revision: str | None = "0017_chat_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "link_codes",
        sa.Column("id", ID, nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("chat", sa.String(320), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("requester_id", ID, nullable=True),
        sa.Column("salt", sa.String(32), nullable=True),
        sa.Column("code_hash", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["requesters.id"],
            name=op.f("fk_link_codes_requester_id_requesters"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_codes")),
    )
    op.create_index("ix_link_codes_chat", "link_codes", ["channel", "chat", "created_at"])
    op.create_index("ix_link_codes_address", "link_codes", ["address", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_link_codes_address", table_name="link_codes")
    op.drop_index("ix_link_codes_chat", table_name="link_codes")
    op.drop_table("link_codes")
