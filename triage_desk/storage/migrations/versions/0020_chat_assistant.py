"""assistant_answers: the message answered, the buttons' key, how the feedback came;
staff_posts and staff_choices (new tickets in a desk's Telegram staff group)

Revision ID: 0020_chat_assistant
Revises: 0019_telegram_files
Create Date: 2026-12-07 18:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_chat_assistant"
down_revision: str | None = "0019_telegram_files"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("assistant_answers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_id", ID, nullable=True))
        batch_op.add_column(sa.Column("callback_key", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("feedback_via", sa.String(16), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_assistant_answers_message_id_messages"),
            "messages",
            ["message_id"],
            ["id"],
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_assistant_answers_callback_key"), ["callback_key"]
        )
    op.create_table(
        "staff_posts",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("desk", sa.String(64), nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("chat", sa.String(32), nullable=False),
        sa.Column("suggested", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_staff_posts_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_posts")),
        sa.UniqueConstraint("key", name=op.f("uq_staff_posts_key")),
    )
    with op.batch_alter_table("staff_posts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_posts_ticket_id"), ["ticket_id"], unique=False)
    op.create_table(
        "staff_choices",
        sa.Column("id", ID, nullable=False),
        sa.Column("post_id", ID, nullable=False),
        sa.Column("chat", sa.String(32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["post_id"], ["staff_posts.id"], name=op.f("fk_staff_choices_post_id_staff_posts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_choices")),
    )
    with op.batch_alter_table("staff_choices", schema=None) as batch_op:
        batch_op.create_index("ix_staff_choices_user", ["chat", "user_id", "asked_at"])


def downgrade() -> None:
    op.drop_table("staff_choices")
    op.drop_table("staff_posts")
    with op.batch_alter_table("assistant_answers", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_assistant_answers_callback_key"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_assistant_answers_message_id_messages"), type_="foreignkey"
        )
        batch_op.drop_column("feedback_via")
        batch_op.drop_column("callback_key")
        batch_op.drop_column("message_id")
