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

* the dispatcher (``responders/dispatcher.py``, adapted by ``runners/dispatch.py``): claims
  one outbox item at a time (its attempt and lease committed), sends it, records the outcome;
* the refiner (``refiner.py``): leases a batch of suggestions (``refining_until``) before it
  embeds them, stores the second suggestions if its lease still holds;
* the scheduler (``scheduler.py``): its claim and its commit are one short transaction with
  nothing slow between them, so it locks the due tickets (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and releases and audits each once.

The SMTP spool drainer (``intake/email/spool.py``, ``SpoolDrainer``) is not one of them yet; it
runs its own thread. It becomes a runner without a change here: ``drain()`` is its
``run_once`` (claim: ``MailSpool.due`` and the batch handed to a prepare worker; work: the
worker parses and classifies; commit: ``EmailIntake.finish`` stores the tickets and the rows
are deleted; batch N+1 is claimed before batch N commits, inside the one call), its
``idle_seconds`` is the same, and its ``wake()`` after a spool commit becomes
``RunnerLoop.wake``, which any thread may call. Once the spool claims its rows with a lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL), several processes can drain one database too.
"""

from triage_desk.runners.loop import RunnerLoop, drive
from triage_desk.runners.runner import Runner

__all__ = ["Runner", "RunnerLoop", "drive"]
