"""The queue runner's processor for channel ``"telegram"``: commands that make no ticket are
answered here, everything else goes through the decoder and the intake steps as any
channel's messages do (``DecodingProcessor``).

Each command is answered in its own commit with the deletion of its queue row, so a crash
before that commit leaves the row, and a replay finds its answer already queued.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock
from triage_desk.desks import Desks
from triage_desk.intake.processing import IngestOutcome, Processor, alongside_for
from triage_desk.intake.queue import Alongside, Arrival
from triage_desk.intake.telegram.answers import queue_answer
from triage_desk.intake.telegram.callbacks import Callbacks, wanted
from triage_desk.intake.telegram.commands import Command, answered_command

# Updates answered without a ticket: a command with its message; None for a press or a
# staff group reply (``callbacks``).
Answered = list[tuple[int, Command | None, dict[str, Any]]]


class TelegramProcessor:
    """``messages``: the processor of everything that is not an answered command;
    ``callbacks``: of button presses and staff group replies (``callbacks.py``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        messages: Processor,
        clock: Clock,
        callbacks: Callbacks | None = None,
    ) -> None:
        self.sessions = sessions
        self.desks = desks
        self.messages = messages
        self.clock = clock
        self.callbacks = callbacks

    def begin(
        self, items: Sequence[Arrival], labels: Sequence[str]
    ) -> tuple[Sequence[Arrival], Answered, list[int], Any]:
        answered: Answered = []
        rest: list[int] = []
        for index, item in enumerate(items):
            found = answered_command(item.payload)
            if found is None and self.callbacks is not None and wanted(item.payload):
                answered.append((index, None, {}))  # a press or a staff group reply
            elif found is None:
                rest.append(index)
            else:
                answered.append((index, *found))
        begun = (
            self.messages.begin([items[i] for i in rest], [labels[i] for i in rest])
            if rest
            else None
        )
        return items, answered, rest, begun

    def finish(
        self,
        pending: tuple[Sequence[Arrival], Answered, list[int], Any],
        alongside: Alongside | None = None,
    ) -> list[IngestOutcome]:
        items, answered, rest, begun = pending
        outcomes: list[IngestOutcome | None] = [None] * len(items)
        for index, command, message in answered:
            if command is None:
                outcomes[index] = self._callback(items[index], index, alongside)
                continue
            with self.sessions.begin() as session:
                desk = self.desks[items[index].desk]
                queue_answer(session, desk, command, message, self.clock())
                if alongside is not None:
                    alongside(session, [index])
            outcomes[index] = IngestOutcome(None, reason="command", detail=command.name)
        if rest:
            stored = self.messages.finish(begun, alongside_for(alongside, rest))
            for index, outcome in zip(rest, stored, strict=True):
                outcomes[index] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def _callback(self, item: Arrival, index: int, alongside: Alongside | None) -> IngestOutcome:
        assert self.callbacks is not None

        def with_it(session: Session) -> None:
            if alongside is not None:
                alongside(session, [index])

        detail = self.callbacks.handle(item.desk, item.payload, with_it)
        return IngestOutcome(None, reason="callback", detail=detail)
