"""The intake steps, in order: what storing a batch of inbound messages does.

Each step is one concern and works on the whole batch (``batch.Batch``), so a batch costs a
few statements per table, not per message. They run in one transaction
(``pipeline.IntakePipeline.store``): a crash leaves all of it or none. Before them, with no
database, ``triage.MessageTriage`` classified each message and worked out the due times of a
new ticket (in a forked prepare worker, for mail). The steps know no channel: they read the
normalised ``InboundMessage`` only; who wrote it and whether it is answered is
``reply_policy``.
"""

from __future__ import annotations

from collections.abc import Callable

from triage_desk.intake.steps.alert_held import alert_held
from triage_desk.intake.steps.batch import Batch
from triage_desk.intake.steps.check_rights import check_rights
from triage_desk.intake.steps.decide_reply import decide_reply
from triage_desk.intake.steps.deduplicate import deduplicate
from triage_desk.intake.steps.flag_origin import flag_origin
from triage_desk.intake.steps.follow_up import follow_up
from triage_desk.intake.steps.identify_requester import identify_requester
from triage_desk.intake.steps.insert_tickets import insert_tickets
from triage_desk.intake.steps.open_ticket import open_ticket
from triage_desk.intake.steps.queue_first_reply import queue_first_reply
from triage_desk.intake.steps.record_bounces import record_bounces
from triage_desk.intake.steps.record_message import record_message
from triage_desk.intake.steps.thread import thread
from triage_desk.intake.steps.write_rows import write_rows

Step = Callable[[Batch], None]

STEPS: tuple[Step, ...] = (
    deduplicate,  # the same message again: a duplicate; a different one under a known id: kept
    thread,  # the ticket it continues: references, bounce original, subject number, batch
    identify_requester,  # the sender's address row and, for a new ticket, their standing
    open_ticket,  # a numbered ticket with triage's category and due times (robots set apart)
    check_rights,  # categories only a client's representative may submit: refused
    insert_tickets,  # new tickets in one statement; replies within the batch join them
    record_message,  # message, attachments, suggestion as rows to write
    follow_up,  # a staff answer or a reopening reply changes its ticket
    record_bounces,  # a bounce of our own mail marks the address undeliverable
    flag_origin,  # reused ids, mentioned tickets, unproven staff: audited for staff
    decide_reply,  # reply_policy: whether it gets an automatic first reply, and why not
    queue_first_reply,  # refusal, 24/7 route or acknowledgement in the outbox
    alert_held,  # staff told of replies the desk-wide limits held
    write_rows,  # everything above, one INSERT per table
)

__all__ = ["STEPS", "Batch", "Step"]
