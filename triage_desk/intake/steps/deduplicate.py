"""Step: the same message again is a duplicate; a different one under a known id is kept.

The same message (same bytes, or the same content delivered twice) is a duplicate, stored
or earlier in the batch. A different message under an id we know (broken mailers send
``<1@localhost>`` every time, an attacker can pre-empt an id) is stored under a derived id,
``<id>#<digest>``, and flagged: never dropped.
"""

from __future__ import annotations

import logging

from triage_desk.intake.steps.batch import Batch, Work
from triage_desk.storage import repositories as repo
from triage_desk.storage.models import Message

log = logging.getLogger(__name__)
_MAX_EXTERNAL_ID = Message.__table__.c.external_id.type.length


def derived_external_id(external_id: str, digest: str) -> str:
    """The id a different message under a known id is stored under: ``<id>#<digest>``."""
    suffix = "#" + digest[:12]
    return external_id[: _MAX_EXTERNAL_ID - len(suffix)] + suffix


def _same_message(stored: Message, work: Work) -> bool:
    """Whether a stored message is this very one again (a redelivery or a second copy)."""
    if stored.content_digest is not None:
        return stored.content_digest == work.content_digest
    # Stored before digests were kept: the same bytes, or what the digest is made of.
    inbound = work.inbound
    if stored.raw is not None and stored.raw == inbound.raw:
        return True
    return (stored.sender, stored.subject, stored.text) == (
        inbound.sender,
        inbound.subject,
        inbound.text,
    )


def _stored(batch: Batch) -> dict[tuple[str, str], Message]:
    """The batch's ids (as carried, and derived) that are stored, with their messages."""
    by_channel: dict[str, set[str]] = {}
    for work in batch.works:
        ids = by_channel.setdefault(work.inbound.channel, set())
        ids.add(work.inbound.external_id)
        ids.add(derived_external_id(work.inbound.external_id, work.content_digest))
    stored: dict[tuple[str, str], Message] = {}
    for channel, ids in by_channel.items():
        # Usually none: the messages themselves are loaded only when some are stored.
        known = repo.stored_external_ids(batch.session, channel, sorted(ids))
        if known:
            found = repo.find_messages(batch.session, channel, sorted(known))
            stored.update(((channel, external_id), m) for external_id, m in found.items())
    return stored


def deduplicate(batch: Batch) -> None:
    stored = _stored(batch)
    first: dict[tuple[str, str], Work] = {}
    for work in batch.works:
        channel, external_id = work.inbound.channel, work.inbound.external_id
        derived = derived_external_id(external_id, work.content_digest)
        known = stored.get((channel, external_id))
        if known is not None and _same_message(known, work):
            work.duplicate_of = known
        elif (channel, derived) in stored:  # this different message came before
            work.duplicate_of = stored[(channel, derived)]
        elif (channel, derived) in first:  # twice in this batch, under the derived id
            work.same_as = first[(channel, derived)]
        elif (channel, external_id) not in first and known is None:
            first[(channel, external_id)] = work
        elif (earlier := first.get((channel, external_id))) is not None and (
            earlier.content_digest == work.content_digest
        ):
            work.same_as = earlier
        else:
            log.warning(
                "a different message from %s reuses the id <%s>; stored as <%s>",
                work.inbound.sender,
                external_id,
                derived,
            )
            work.store_as(derived)
            first[(channel, derived)] = work
    batch.fresh = [w for w in batch.works if w.duplicate_of is None and w.same_as is None]
