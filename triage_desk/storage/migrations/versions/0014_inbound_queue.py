"""inbound queue: one channel-neutral queue (inbound_queue) replaces the SMTP mail spool

Every spooled mail is copied (channel "email", its envelope and source in ``meta``) with its
id, attempts, starts, next attempt and last error; the id counter carries on from the
spool's, so an id a 250 once named ("queued as N") is never given to another item.

Revision ID: 0014_inbound_queue
Revises: 0013_spool_starts
Create Date: 2026-12-22 10:00:00
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_inbound_queue"
down_revision: str | None = "0013_spool_starts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ROWS_PER_COPY = 500  # spooled mail is copied in slices, not read into memory at once
COMMON = ("id", "desk", "received_at", "attempts", "starts", "last_error", "next_attempt_at")

spool = sa.table(
    "mail_spool",
    *(sa.column(name) for name in COMMON),
    sa.column("source", sa.String()),
    sa.column("envelope_sender", sa.String()),
    sa.column("recipients", JSON),
    sa.column("raw", sa.LargeBinary()),
)
queue = sa.table(
    "inbound_queue",
    *(sa.column(name) for name in COMMON),
    sa.column("channel", sa.String()),
    sa.column("external_id", sa.String()),
    sa.column("meta", JSON),
    sa.column("payload", sa.LargeBinary()),
)


def _create_queue() -> None:
    op.create_table(
        "inbound_queue",
        sa.Column("id", ID, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("desk", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=512), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("meta", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("starts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_queue")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_inbound_queue_next_attempt_at"), "inbound_queue", ["next_attempt_at"])


def _create_spool() -> None:
    op.create_table(
        "mail_spool",
        sa.Column("id", ID, nullable=False),
        sa.Column("desk", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("envelope_sender", sa.String(length=320), nullable=True),
        sa.Column("recipients", JSON, nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_spool")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_mail_spool_next_attempt_at"), "mail_spool", ["next_attempt_at"])


def _copy(
    source: sa.TableClause,
    target: sa.TableClause,
    convert: Callable[[sa.RowMapping], dict[str, Any]],
) -> None:
    bind = op.get_bind()
    after = -1
    while True:
        rows = bind.execute(
            sa.select(source).where(source.c.id > after).order_by(source.c.id).limit(ROWS_PER_COPY)
        ).all()
        if not rows:
            return
        bind.execute(sa.insert(target), [convert(row._mapping) for row in rows])
        after = rows[-1].id


def _carry_counter(old: str, new: str) -> None:
    """``new``'s ids go on from where ``old``'s stopped (deleted rows' ids included)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        seq = bind.exec_driver_sql(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (old,)
        ).scalar()
        if seq is None:
            return
        bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (new,))
        bind.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (new, seq))
    elif bind.dialect.name == "postgresql":
        name = bind.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": old}).scalar()
        last, called = bind.exec_driver_sql(
            f"SELECT last_value, is_called FROM {name}"  # the database named it
        ).one()
        bind.execute(
            sa.text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v, :c)"),
            {"t": new, "v": last, "c": called},
        )


def _from_spool(row: sa.RowMapping) -> dict[str, Any]:
    values = {name: row[name] for name in COMMON}
    meta = {
        "source": row["source"],
        "envelope_sender": row["envelope_sender"],
        "recipients": list(row["recipients"] or ()),
    }
    return {**values, "channel": "email", "external_id": None, "meta": meta, "payload": row["raw"]}


def _to_spool(row: sa.RowMapping) -> dict[str, Any]:
    values = {name: row[name] for name in COMMON}
    meta = row["meta"] or {}
    return {
        **values,
        "source": meta.get("source") or row["channel"],
        "envelope_sender": meta.get("envelope_sender"),
        "recipients": list(meta.get("recipients") or ()),
        "raw": row["payload"],
    }


def upgrade() -> None:
    _create_queue()
    _copy(spool, queue, _from_spool)
    _carry_counter("mail_spool", "inbound_queue")
    op.drop_index(op.f("ix_mail_spool_next_attempt_at"), table_name="mail_spool")
    op.drop_table("mail_spool")


def downgrade() -> None:
    # The spool holds mail only: items of another channel would be lost, so they must be
    # processed (or the queue emptied by hand) before going back.
    others = op.get_bind().execute(
        sa.select(sa.func.count()).select_from(queue).where(queue.c.channel != "email")
    )
    if others.scalar():
        raise RuntimeError("inbound_queue holds items of channels other than email")
    _create_spool()
    _copy(queue, spool, _to_spool)
    _carry_counter("inbound_queue", "mail_spool")
    op.drop_index(op.f("ix_inbound_queue_next_attempt_at"), table_name="inbound_queue")
    op.drop_table("inbound_queue")
