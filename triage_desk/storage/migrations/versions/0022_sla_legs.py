"""sla_legs: the response and resolution legs of every ticket, backfilled from its times

Revision ID: 0022_sla_legs
Revises: 0021_console_users
Create Date: 2026-12-07 21:00:00

The backfill writes round 1 of every ticket that has a due time and is neither robot mail
nor refused: the response met at the first response (or the resolution, if earlier), the
resolution at the resolution. A leg met late gets its breach and how late; an unmet one whose
due time has passed is left for the scheduler's next run to mark (a migration has no "now"
of the desk's clock), and the reports count it late meanwhile by the same rule.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_sla_legs"
down_revision: str | None = "0021_console_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "sla_legs",
        sa.Column("id", ID, nullable=False),
        sa.Column("ticket_id", ID, nullable=False),
        sa.Column("leg", sa.String(16), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("late_seconds", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_sla_legs_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_legs")),
        sa.UniqueConstraint("ticket_id", "leg", "round", name=op.f("uq_sla_legs_ticket_id")),
    )
    op.create_index(op.f("ix_sla_legs_ticket_id"), "sla_legs", ["ticket_id"], unique=False)
    op.create_index("ix_sla_legs_unmet", "sla_legs", ["done_at", "due_at"], unique=False)
    _backfill()


def _backfill() -> None:
    from triage_desk.storage.models import UTCDateTime  # aware UTC on both backends

    when = UTCDateTime()
    tickets = sa.table(
        "tickets",
        sa.column("id", ID),
        sa.column("status", sa.String()),
        sa.column("category", sa.String()),
        sa.column("updated_at", when),
        sa.column("response_due", when),
        sa.column("resolution_due", when),
        sa.column("first_response_at", when),
        sa.column("resolved_at", when),
    )
    legs = sa.table(
        "sla_legs",
        sa.column("ticket_id", ID),
        sa.column("leg", sa.String()),
        sa.column("round", sa.Integer()),
        sa.column("category", sa.String()),
        sa.column("due_at", when),
        sa.column("done_at", when),
        sa.column("breached_at", when),
        sa.column("late_seconds", sa.BigInteger()),
        sa.column("updated_at", when),
    )
    connection = op.get_bind()
    query = (
        sa.select(tickets)
        .where(tickets.c.status.not_in(("robot", "refused")))
        .where(sa.or_(tickets.c.response_due.is_not(None), tickets.c.resolution_due.is_not(None)))
        .order_by(tickets.c.id)
    )
    last = 0
    while True:
        rows = connection.execute(query.where(tickets.c.id > last).limit(BATCH)).all()
        if not rows:
            return
        values = [leg for row in rows for leg in _legs(row)]
        if values:
            connection.execute(sa.insert(legs), values)
        last = rows[-1].id


def _legs(row: sa.Row) -> list[dict]:
    met = [t for t in (row.first_response_at, row.resolved_at) if t is not None]
    out = []
    for leg, due, done in (
        ("response", row.response_due, min(met) if met else None),
        ("resolution", row.resolution_due, row.resolved_at),
    ):
        if due is None:
            continue
        late = done is not None and done > due
        out.append(
            {
                "ticket_id": row.id,
                "leg": leg,
                "round": 1,
                "category": row.category,
                "due_at": due,
                "done_at": done,
                "breached_at": due if late else None,
                "late_seconds": int((done - due).total_seconds()) if late else None,
                "updated_at": row.updated_at,
            }
        )
    return out


def downgrade() -> None:
    op.drop_index("ix_sla_legs_unmet", table_name="sla_legs")
    op.drop_index(op.f("ix_sla_legs_ticket_id"), table_name="sla_legs")
    op.drop_table("sla_legs")
