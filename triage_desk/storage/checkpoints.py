"""IMAP fetch checkpoints: per mailbox folder, its UIDVALIDITY and the last committed UID.

Every write is conditional, so two listener processes on the same mailbox can only move a
checkpoint forward (``advance``) or start a folder over once per new UIDVALIDITY (``open``),
never undo each other's progress.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import system_clock
from triage_desk.storage.models import ImapCheckpoint


def last_uid(sessions: sessionmaker[Session], mailbox: str, folder: str, uidvalidity: int) -> int:
    """The last committed UID, or 0 when the folder is new to us or its UIDVALIDITY changed."""
    with sessions() as session:
        row = session.execute(
            select(ImapCheckpoint.uidvalidity, ImapCheckpoint.last_uid).where(
                ImapCheckpoint.mailbox == mailbox, ImapCheckpoint.folder == folder
            )
        ).first()
    if row is None or row.uidvalidity != uidvalidity:
        return 0
    return int(row.last_uid)


def open_folder(
    sessions: sessionmaker[Session], mailbox: str, folder: str, uidvalidity: int
) -> tuple[int, bool]:
    """(last committed UID, whether the folder starts over) for the folder as selected now.

    A new folder starts at 0. A changed UIDVALIDITY means every UID we knew is meaningless: the
    folder is read again from the start (Message-ID dedup keeps that from making tickets twice).
    """
    with sessions.begin() as session:
        row = session.get(ImapCheckpoint, (mailbox, folder))
        if row is None:
            session.add(
                ImapCheckpoint(mailbox=mailbox, folder=folder, uidvalidity=uidvalidity, last_uid=0)
            )
            return 0, False
        if row.uidvalidity == uidvalidity:
            return int(row.last_uid), False
        session.execute(
            update(ImapCheckpoint)
            .where(
                ImapCheckpoint.mailbox == mailbox,
                ImapCheckpoint.folder == folder,
                ImapCheckpoint.uidvalidity != uidvalidity,
            )
            .values(uidvalidity=uidvalidity, last_uid=0, updated_at=system_clock())
            .execution_options(synchronize_session=False)
        )
        return 0, True


def ensure_folder(
    sessions: sessionmaker[Session], mailbox: str, folder: str, uidvalidity: int
) -> tuple[int, bool]:
    """``open_folder`` that tolerates another process creating the same row at the same time."""
    try:
        return open_folder(sessions, mailbox, folder, uidvalidity)
    except IntegrityError:
        return open_folder(sessions, mailbox, folder, uidvalidity)


def advance(
    sessions: sessionmaker[Session], mailbox: str, folder: str, uidvalidity: int, uid: int
) -> None:
    """Move the checkpoint forward to ``uid``; never backwards, never across UIDVALIDITY."""
    with sessions.begin() as session:
        advance_in(session, mailbox, folder, uidvalidity, uid)


def advance_in(session: Session, mailbox: str, folder: str, uidvalidity: int, uid: int) -> None:
    """``advance`` in the caller's transaction (the one that queues the mail it passes)."""
    session.execute(
        update(ImapCheckpoint)
        .where(
            ImapCheckpoint.mailbox == mailbox,
            ImapCheckpoint.folder == folder,
            ImapCheckpoint.uidvalidity == uidvalidity,
            ImapCheckpoint.last_uid < uid,
        )
        .values(last_uid=uid, updated_at=system_clock())
        .execution_options(synchronize_session=False)
    )


def all_checkpoints(session: Session) -> list[ImapCheckpoint]:
    return list(
        session.scalars(
            select(ImapCheckpoint).order_by(ImapCheckpoint.mailbox, ImapCheckpoint.folder)
        )
    )
