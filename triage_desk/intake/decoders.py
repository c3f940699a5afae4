"""Channel decoders: a queued item's bytes → the normalised ``InboundMessage``.

Each channel registers one decoder under its name (email's is ``intake/email/decoder.py``).
A decoder raises ``MailRejected`` (its ``reason`` and ``detail``) for an item that must go
to quarantine instead, and checks the item's ``Deadline`` in any long loop.
"""

from __future__ import annotations

from typing import Protocol

from triage_desk.intake.errors import Deadline, Unparseable
from triage_desk.intake.message import InboundMessage
from triage_desk.intake.queue import Arrival


class Decoder(Protocol):
    def decode(self, item: Arrival, deadline: Deadline) -> InboundMessage:
        """The normalised message; ``MailRejected`` when the item must be quarantined."""
        ...


class Decoders:
    """Channel name → its decoder."""

    def __init__(self) -> None:
        self._by_channel: dict[str, Decoder] = {}

    def register(self, channel: str, decoder: Decoder) -> None:
        self._by_channel[channel] = decoder

    def decode(self, item: Arrival, deadline: Deadline) -> InboundMessage:
        decoder = self._by_channel.get(item.channel)
        if decoder is None:  # kept, not dropped: a release once the channel is back
            raise Unparseable(f"no decoder for channel {item.channel!r}")
        return decoder.decode(item, deadline)
