"""A lease: one process at a time holds a named job, until a time it keeps moving on.

Taking it is one conditional UPDATE (ours already, or run out) or, for a name never held, an
INSERT that the primary key lets only one process win; both are atomic on SQLite and
PostgreSQL alike, so two processes starting together never both hold it. A holder that dies
stops renewing, and the lease passes on once it runs out.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from sqlalchemy import insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock, system_clock
from triage_desk.storage.models import Lease as LeaseRow


def holder_name() -> str:
    """This process, told apart from a restarted one with the same pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        name: str,
        seconds: float,
        holder: str | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.sessions = sessions
        self.name = name
        self.seconds = seconds
        self.holder = holder or holder_name()
        self.clock = clock

    def take(self) -> bool:
        """Take or renew it for ``seconds`` from now; False while another holds it."""
        now = self.clock()
        until = now + dt.timedelta(seconds=self.seconds)
        table = LeaseRow.__table__
        with self.sessions.begin() as session:
            moved = session.execute(
                update(table)
                .where(
                    table.c.name == self.name,
                    or_(table.c.holder == self.holder, table.c.expires_at <= now),
                )
                .values(holder=self.holder, expires_at=until)
            ).rowcount
        if moved:
            return True
        try:
            with self.sessions.begin() as session:
                session.execute(
                    insert(table).values(name=self.name, holder=self.holder, expires_at=until)
                )
        except IntegrityError:  # it exists: another process holds it
            return False
        return True

    def release(self) -> None:
        """Let it go now (at a clean stop), so a successor need not wait for it to run out."""
        table = LeaseRow.__table__
        with self.sessions.begin() as session:
            session.execute(
                update(table)
                .where(table.c.name == self.name, table.c.holder == self.holder)
                .values(expires_at=self.clock())
            )

    def holder_now(self) -> str | None:
        """Who holds it now (None: nobody, or run out)."""
        with self.sessions() as session:
            row = session.get(LeaseRow, self.name)
            if row is None or row.expires_at <= self.clock():
                return None
            return row.holder
