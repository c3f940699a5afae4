"""The queue runner's processor for channel ``"telegram"``: commands that make no ticket are
answered here, button presses and staff group replies too (``callbacks.py``), edits applied
here (``edits.py``), files fetched here (``files.py``), and
everything else goes through the decoder and the intake steps as any channel's messages do
(``DecodingProcessor``).

Each command and each edit is handled in its own commit with the deletion of its queue row,
so a crash before that commit leaves the row, and a replay finds its answer already queued
(or its edit already recorded). Messages are stored in parts of at most ``BATCH_BYTES`` of
files, each part's files fetched just before it is stored; a message whose file could not
be fetched for now stays queued (``POSTPONED``) and is tried again later.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from telegram import Update

from triage_desk.clock import Clock
from triage_desk.desks import Desks
from triage_desk.intake.processing import POSTPONED, IngestOutcome, Processor, alongside_for
from triage_desk.intake.queue import Alongside, Arrival
from triage_desk.intake.telegram.answers import answer_language, queue_answer
from triage_desk.intake.telegram.callbacks import Callbacks, wanted
from triage_desk.intake.telegram.commands import Command, answered_command
from triage_desk.intake.telegram.edits import EditOutcome, apply_edit
from triage_desk.intake.telegram.files import (
    BATCH_BYTES,
    RETRY_WINDOW,
    Fetched,
    FileFetcher,
    FileRef,
    TransientFailure,
    file_refs,
    queue_too_large_notice,
    with_files,
)
from triage_desk.intake.telegram.updates import is_edit, private_message
from triage_desk.responders.telegram_ids import CHANNEL, message_key
from triage_desk.storage.models import QueuedInbound

log = logging.getLogger(__name__)


@dataclass
class Pending:
    items: Sequence[Arrival]
    labels: Sequence[str]
    # Answered without a ticket: a command with its message; None for a press or a staff
    # group reply (``callbacks``).
    answered: list[tuple[int, Command | None, dict[str, Any]]] = field(default_factory=list)
    edits: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    rest: list[int] = field(default_factory=list)


def _update(item: Arrival) -> dict[str, Any] | None:
    try:
        update = json.loads(item.payload)
    except ValueError:
        return None  # the decoder quarantines it with the reason
    return update if isinstance(update, dict) else None


def _refs(update: dict[str, Any] | None) -> list[FileRef]:
    """The files a queued update names (none when it cannot be read: the decoder says why)."""
    if update is None or private_message(update) is None:
        return []
    try:
        parsed = Update.de_json(update, None)
    except (KeyError, TypeError, ValueError):
        return []
    message = parsed.message or parsed.edited_message
    return file_refs(message) if message is not None else []


class TelegramProcessor:
    """``messages``: the processor of everything that is not an answered command or an
    edit; ``files``: what fetches a message's files (None: metadata only)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        messages: Processor,
        clock: Clock,
        files: FileFetcher | None = None,
        callbacks: Callbacks | None = None,
    ) -> None:
        self.sessions = sessions
        self.desks = desks
        self.messages = messages
        self.clock = clock
        self.files = files
        self.callbacks = callbacks

    def begin(self, items: Sequence[Arrival], labels: Sequence[str]) -> Pending:
        pending = Pending(items, labels)
        for index, item in enumerate(items):
            update = _update(item)
            if update is not None and is_edit(update) and private_message(update) is not None:
                pending.edits.append((index, update["edited_message"]))
                continue
            found = answered_command(item.payload)
            if found is None and self.callbacks is not None and wanted(item.payload):
                pending.answered.append((index, None, {}))  # a press or a staff group reply
            elif found is None:
                pending.rest.append(index)
            else:
                pending.answered.append((index, *found))
        return pending

    def finish(self, pending: Pending, alongside: Alongside | None = None) -> list[IngestOutcome]:
        items = pending.items
        outcomes: list[IngestOutcome | None] = [None] * len(items)
        for index, command, message in pending.answered:
            if command is None:
                outcomes[index] = self._callback(items[index], index, alongside)
            else:
                outcomes[index] = self._answer(items[index], command, message, alongside, index)
        # Messages before edits: an edit queued with its message finds it stored.
        self._store(pending, pending.rest, outcomes, alongside)
        new = []
        for index, message in pending.edits:
            outcome = self._edit(items[index], message, alongside, index)
            if outcome is None:
                new.append(index)  # never stored: taken as a new message
            else:
                outcomes[index] = outcome
        if new:
            self._store(pending, new, outcomes, alongside)
        return [outcome for outcome in outcomes if outcome is not None]

    def _answer(
        self,
        item: Arrival,
        command: Command,
        message: dict[str, Any],
        alongside: Alongside | None,
        index: int,
    ) -> IngestOutcome:
        with self.sessions.begin() as session:
            queue_answer(session, self.desks[item.desk], command, message, self.clock())
            if alongside is not None:
                alongside(session, [index])
        return IngestOutcome(None, reason="command", detail=command.name)

    def _callback(self, item: Arrival, index: int, alongside: Alongside | None) -> IngestOutcome:
        assert self.callbacks is not None

        def with_it(session: Session) -> None:
            if alongside is not None:
                alongside(session, [index])

        detail = self.callbacks.handle(item.desk, item.payload, with_it)
        return IngestOutcome(None, reason="callback", detail=detail)

    def _edit(
        self, item: Arrival, message: dict[str, Any], alongside: Alongside | None, index: int
    ) -> IngestOutcome | None:
        """The edit applied with its row's deletion; None when its message is not stored."""
        with self.sessions.begin() as session:
            done = apply_edit(session, message, item.received_at, self.clock())
            if done is EditOutcome.UNKNOWN:
                # Its message still queued (put off for a file): the edit waits for it.
                key = message_key(message["chat"]["id"], message["message_id"])
                waiting = session.scalar(
                    select(QueuedInbound.id).where(
                        QueuedInbound.channel == CHANNEL, QueuedInbound.external_id == key
                    )
                )
                if waiting is not None:
                    return IngestOutcome(None, reason=POSTPONED, detail="its message is queued")
                return None
            if alongside is not None:
                alongside(session, [index])
        return IngestOutcome(None, reason="edit", detail=done.value)

    def _store(
        self,
        pending: Pending,
        indexes: list[int],
        outcomes: list[IngestOutcome | None],
        alongside: Alongside | None,
    ) -> None:
        """The messages at ``indexes`` stored, part by part, each with its files."""
        for part in self._parts(pending.items, indexes):
            ready: list[tuple[int, Arrival]] = []
            too_large: dict[int, list[str]] = {}
            for index in part:
                item = pending.items[index]
                fetched, error = self._fetch(item)
                if error is not None:
                    log.warning("%s: a file not fetched for now (%s)", pending.labels[index], error)
                    outcomes[index] = IngestOutcome(None, reason=POSTPONED, detail=error)
                    continue
                ready.append((index, with_files(item, fetched) if fetched else item))
                names = [
                    ref.filename
                    for ref in _refs(_update(item))
                    if ref.file_id in fetched and fetched[ref.file_id].too_large
                ]
                if names:
                    too_large[len(ready) - 1] = names
            if not ready:
                continue
            chosen = [index for index, _item in ready]
            begun = self.messages.begin(
                [item for _index, item in ready], [pending.labels[i] for i in chosen]
            )
            stored = self.messages.finish(
                begun, self._with_notices(ready, too_large, alongside_for(alongside, chosen))
            )
            for index, outcome in zip(chosen, stored, strict=True):
                outcomes[index] = outcome

    def _parts(self, items: Sequence[Arrival], indexes: list[int]) -> list[list[int]]:
        """``indexes`` cut so that no part's files add up to more than ``BATCH_BYTES``."""
        if self.files is None:
            return [indexes] if indexes else []
        parts: list[list[int]] = []
        part: list[int] = []
        held = 0
        for index in indexes:
            size = sum(
                min(ref.size if ref.size is not None else self.files.limit, self.files.limit)
                for ref in _refs(_update(items[index]))
            )
            if part and held + size > BATCH_BYTES:
                parts.append(part)
                part, held = [], 0
            part.append(index)
            held += size
        if part:
            parts.append(part)
        return parts

    def _fetch(self, item: Arrival) -> tuple[dict[str, Fetched], str | None]:
        """The item's files by file id, or the transient error to postpone it for."""
        if self.files is None:
            return {}, None
        fetched: dict[str, Fetched] = {}
        for ref in _refs(_update(item)):
            try:
                fetched[ref.file_id] = self.files.fetch(item.desk, ref)
            except TransientFailure as exc:
                if self.clock() - item.received_at < RETRY_WINDOW:
                    return {}, str(exc)
                hours = RETRY_WINDOW.total_seconds() / 3600
                fetched[ref.file_id] = Fetched(
                    None, f"not downloaded from Telegram in {hours:g} h of trying (last: {exc})"
                )
        return fetched, None

    def _with_notices(
        self,
        ready: list[tuple[int, Arrival]],
        too_large: dict[int, list[str]],
        alongside: Alongside | None,
    ) -> Alongside | None:
        """``alongside``, and a notice to each person whose file was too large, in the
        commit that stores their message."""
        if not too_large:
            return alongside

        def run(session: Session, chosen: Sequence[int]) -> None:
            for position in chosen:
                names = too_large.get(position)
                if not names:
                    continue
                item = ready[position][1]
                update = _update(item) or {}
                message = private_message(update)
                if message is None:
                    continue
                desk = self.desks[item.desk]
                language = answer_language(session, message, desk)
                limit = self.files.limit if self.files else 0
                queue_too_large_notice(session, desk, message, names, language, limit, self.clock())
            if alongside is not None:
                alongside(session, chosen)

        return run
