"""How a backlog is cut up: FETCH batches that start small, and the share of each queued
batch the main process prepares beside its worker."""

from __future__ import annotations

import pytest

from triage_desk.intake.email.imap_listener import fetch_batches
from triage_desk.intake.email.share import MAX_KEPT, MIN_SPLIT, WorkShare


def measured(share: WorkShare, own: float, worker: float, store: float, batches: int = 8) -> None:
    """Feed ``share`` the same per-mail costs (seconds) batch after batch."""
    for _ in range(batches):
        share.prepared(100, 100 * own)
        share.worker_prepared(100, 100 * worker)
        share.stored(200, 200 * store)


def test_the_kept_share_makes_both_processes_take_as_long():
    share = WorkShare(workers=1)
    measured(share, own=1.0e-3, worker=1.0e-3, store=0.4e-3)
    kept = share.kept(200)
    # This process: kept mails prepared and all 200 stored; the worker: the rest prepared.
    here = kept * 1.0e-3 + 200 * 0.4e-3
    there = (200 - kept) * 1.0e-3
    assert kept == 60
    assert here == pytest.approx(there, abs=1.0e-3)


def test_a_slower_main_process_keeps_less():
    share = WorkShare(workers=1)
    measured(share, own=2.0e-3, worker=1.0e-3, store=0.4e-3)
    assert share.kept(200) == 40  # (1 - 0.4) / (2 + 1) of the batch


def test_nothing_is_kept_when_storing_alone_takes_longer_than_a_worker():
    share = WorkShare(workers=2)
    measured(share, own=1.0e-3, worker=1.0e-3, store=0.6e-3)  # a worker: 0.5 ms a mail
    assert share.kept(200) == 0


def test_at_most_half_is_kept_and_small_batches_all_go_to_the_workers():
    share = WorkShare(workers=1)
    measured(share, own=0.1e-3, worker=5.0e-3, store=0.01e-3)
    assert share.kept(200) == round(200 * MAX_KEPT)
    assert share.kept(MIN_SPLIT - 1) == 0
    assert WorkShare(workers=0).kept(5) == 5  # no worker: everything here


def test_the_first_batch_measured_does_not_count():
    """It pays for what is loaded on first use, and would skew every batch after it."""
    share = WorkShare(workers=1)
    share.prepared(10, 10 * 50.0e-3)  # the language models loaded on the way
    share.worker_prepared(10, 10 * 50.0e-3)
    share.stored(10, 10 * 30.0e-3)
    assert share.kept(200) == WorkShare(workers=1).kept(200)
    measured(share, own=1.0e-3, worker=1.0e-3, store=0.2e-3, batches=1)
    assert share.kept(200) > WorkShare(workers=1).kept(200)  # the next batch does count


def test_a_backlog_is_fetched_in_batches_that_double_up_to_the_most():
    todo = [(uid, 1000) for uid in range(1, 1001)]
    sizes = [len(batch) for batch in fetch_batches(todo, most=200, max_bytes=10**9, first=25)]
    assert sizes == [25, 50, 100, 200, 200, 200, 200, 25]
    assert [uid for batch in fetch_batches(todo, 200, 10**9) for uid in batch] == list(
        range(1, 1001)
    )


def test_a_fetch_batch_stays_under_its_byte_limit_unless_one_mail_alone_is_over():
    todo = [(1, 600), (2, 600), (3, 5000), (4, 100), (5, 100)]
    assert fetch_batches(todo, most=10, max_bytes=1000, first=10) == [[1], [2], [3], [4, 5]]
    assert fetch_batches([(1, 10)], most=500, max_bytes=1000) == [[1]]
    assert fetch_batches([], most=500, max_bytes=1000) == []
