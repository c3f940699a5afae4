"""Runners: the background workers of ``triage run``, each owning the rows it works on.

A runner, in Mailman's sense, is one queue and one loop around it. Ours have one interface
(``Runner``: a ``name``, an ``idle_seconds`` and ``run_once(now) -> int``), and one loop
drives them all (``loop.drive``): back to back while a run finds work, then every idle
interval; an exception is logged and the run tried again after the idle interval; the stop
event ends it after the run in hand. ``service.runners`` is the one list ``triage run``
starts.

Each ``run_once`` has the same three phases, written out in each runner:

1. **claim**: the rows this process now owns, in a short transaction that commits (a lease
   with an expiry, or a status change), so a second process never takes them and a crash
   leaves them to be taken again once the lease ends;
2. **work**: the slow part (embedding, talking to the mail relay), with no transaction open
   and no row locked;
3. **commit**: the outcome in a second transaction, written only while the claim still
   holds.

The runners (``service.runners``):

* the queue runner (``runners/queue.py``): claims a batch of the inbound queue (a start
  counted per row and committed; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), has each
  channel's processor decode and triage it (email's in a forked prepare worker, the next
  batch begun while this one is stored), and stores the tickets and deletes the rows in one
  transaction; the listeners ``wake`` it after each commit of queue rows;
* the dispatcher (``responders/dispatcher.py``, adapted by ``runners/dispatch.py``): claims
  one outbox item at a time (its attempt and lease committed), sends it, records the outcome;
* the refiner (``refiner.py``): leases a batch of suggestions (``refining_until``) before it
  embeds them, stores the second suggestions if its lease still holds;
* the scheduler (``scheduler.py``): its claim and its commit are one short transaction with
  nothing slow between them, so it locks the due tickets (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and releases and audits each once.

The queue runner's claim is no lease: a second runner on the same database may take a row
again once the first one's claim has committed; it then stores a duplicate, which
deduplication turns into nothing (no second ticket, no second acknowledgement).
"""

from triage_desk.runners.loop import RunnerLoop, RunnerThread, drive
from triage_desk.runners.runner import Runner

__all__ = ["Runner", "RunnerLoop", "RunnerThread", "drive"]
