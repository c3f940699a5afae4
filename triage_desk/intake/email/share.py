"""How much of a batch the main process prepares itself beside its prepare workers.

The main process stores batch N while a worker prepares batch N+1. Storing costs less than
preparing, so a main process that hands every mail to the workers waits for them at each
batch, with a core idle. ``WorkShare`` keeps back the share of each batch that makes both
sides take about as long. With the per-mail costs as last measured (``own``: preparing here,
``store``: storing here, ``worker``: preparing in a worker) and ``workers`` workers, keeping
a share ``kept`` costs this process ``kept * own + store`` and each worker
``(1 - kept) * worker / workers`` per mail; equal when

    kept = (worker / workers - store) / (own + worker / workers)

and none when storing alone keeps this process busier than a worker. Small batches (a live
mailbox's one or two mails) all go to the workers: their latency counts, not the core.
"""

from __future__ import annotations

# Below this many mails a batch is not split.
MIN_SPLIT = 16
MAX_KEPT = 0.5
# How fast a measured cost follows the latest batch (exponential smoothing).
SMOOTHING = 0.5


class PerMail:
    """A smoothed cost per mail, in seconds. The first batch measured is not counted: it
    pays for what is loaded on first use (language models, compiled statements)."""

    def __init__(self, start: float) -> None:
        self.seconds = start
        self._warm = False

    def add(self, mails: int, seconds: float) -> None:
        if mails <= 0 or seconds <= 0:
            return
        if not self._warm:
            self._warm = True
            return
        self.seconds += SMOOTHING * (seconds / mails - self.seconds)


class WorkShare:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        # Until measured: storing a mail costs about 0.4 of preparing it.
        self.own = PerMail(1.0e-3)  # preparing in this process
        self.worker = PerMail(1.0e-3)  # preparing in a worker
        self.store = PerMail(0.4e-3)  # storing, in this process

    def kept(self, size: int) -> int:
        """How many mails of a batch of ``size`` this process prepares itself."""
        if self.workers <= 0:
            return size
        if size < MIN_SPLIT:
            return 0
        worker = self.worker.seconds / self.workers
        share = (worker - self.store.seconds) / (self.own.seconds + worker)
        return round(size * min(max(share, 0.0), MAX_KEPT))

    def prepared(self, mails: int, seconds: float) -> None:
        """This process prepared ``mails`` in ``seconds``."""
        self.own.add(mails, seconds)

    def worker_prepared(self, mails: int, seconds: float) -> None:
        """A worker prepared ``mails`` in ``seconds`` (told from the thread reading it)."""
        self.worker.add(mails, seconds)

    def stored(self, mails: int, seconds: float) -> None:
        """This process stored ``mails`` in ``seconds``."""
        self.store.add(mails, seconds)
