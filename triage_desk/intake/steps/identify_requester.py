"""Step: who sent each message. Every sender's address row (new senders get a requester,
all in one go) and, for a message that opens a ticket, the sender's standing (which client
they belong to, whether they are its designated representative), one lookup per desk."""

from __future__ import annotations

from triage_desk.intake.message import InboundMessage
from triage_desk.intake.steps.batch import Batch
from triage_desk.storage import repositories as repo
from triage_desk.storage.clients import standings


def _requesters(batch: Batch) -> None:
    senders: dict[str, list[InboundMessage]] = {}
    for work in batch.fresh:
        senders.setdefault(work.inbound.channel, []).append(work.inbound)
    for channel, inbounds in senders.items():
        known = repo.sender_rows(batch.session, channel, [i.sender for i in inbounds])
        new: dict[str, str | None] = {}
        names: dict[int, str] = {}
        for inbound in inbounds:
            row = known.get(inbound.sender)
            if row is None:
                new.setdefault(inbound.sender, inbound.sender_name)
            elif inbound.sender_name and not row.display_name:
                row.display_name = names[row.requester_id] = inbound.sender_name
        known.update(repo.insert_senders(batch.session, channel, new))
        repo.name_requesters(batch.session, names)
        batch.requesters.update(((channel, address), row) for address, row in known.items())


def _standings(batch: Batch) -> None:
    groups: dict[tuple[str, str], set[str]] = {}
    for work in batch.opening:
        groups.setdefault((work.desk.name, work.inbound.channel), set()).add(work.inbound.sender)
    found = {
        (desk, channel, address): standing
        for (desk, channel), addresses in groups.items()
        for address, standing in standings(batch.session, desk, channel, addresses).items()
    }
    for work in batch.opening:
        work.standing = found[(work.desk.name, work.inbound.channel, work.inbound.sender)]


def identify_requester(batch: Batch) -> None:
    _requesters(batch)
    _standings(batch)
