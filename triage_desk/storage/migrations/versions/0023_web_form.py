"""web_form_keys (the public form's signing key) and kb_suggestion_events (the form's
knowledge-base offers and clicks)

Revision ID: 0023_web_form
Revises: 0021_console_users
Create Date: 2026-12-07 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_web_form"
down_revision: str | None = "0022_sla_legs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_form_keys",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_web_form_keys")),
    )
    op.create_table(
        "kb_suggestion_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("desk", sa.String(64), nullable=False),
        sa.Column("slug", sa.String(200), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_suggestion_events")),
    )
    op.create_index(
        "ix_kb_suggestion_events_desk_at", "kb_suggestion_events", ["desk", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_kb_suggestion_events_desk_at", table_name="kb_suggestion_events")
    op.drop_table("kb_suggestion_events")
    op.drop_table("web_form_keys")
