"""Photos, documents and voice notes of a chat message, downloaded through ``getFile``.

Where the download happens, and why there: in the Telegram processor (``processor.py``),
between claiming a queue row and storing its message, in the queue runner's thread. The
poller and the webhook only commit what Telegram sent (an update is small, a file is not: a
slow download there would hold back the offset or the webhook's answer), and the decoder
stays free of network calls. So:

* **a crash loses nothing**: the queue row is deleted only in the commit that stores the
  message with its files; a process that dies mid-download leaves the row, and the next
  claim downloads again (a file id stays valid for the bot);
* **nothing is sent twice**: a file over the limit is not fetched; the person is told so
  in a ``chat_file_too_large`` outbox item written in that same commit, keyed by the chat,
  the message and the file, so a replayed update finds it there and adds none;
* **a transient failure is retried, not dropped**: a network error, a timeout, a 5xx or a
  429 leaves the message in the queue, postponed with the queue's growing wait
  (``POSTPONED``), for up to ``RETRY_WINDOW`` after it arrived; after that the message is
  stored with the file's metadata and the reason, rather than held back for ever;
* **bounded**: a bot may download at most 20 MB a file from the Bot API; the desk's own
  ``email.max_attachment_bytes``, if lower, is the limit. Over it, by the size Telegram
  declares (in the update, or from ``getFile``) or by what actually came, the bytes are not
  kept: the attachment row has the metadata and a reason staff see. The processor fetches a
  batch's files in parts of at most ``BATCH_BYTES``, each part stored before the next.

Downloaded files become the same ``attachments`` rows as email's (``triage ticket show``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from telegram import Bot, Message
from telegram.error import BadRequest, Forbidden, TelegramError

from triage_desk.config import Config
from triage_desk.desks import Desk
from triage_desk.intake.queue import Arrival
from triage_desk.intake.telegram.texts import FILE_TOO_LARGE, SIZE_UNITS
from triage_desk.responders.private_loop import PrivateLoop
from triage_desk.responders.telegram_ids import CHANNEL, message_key
from triage_desk.storage.models import Direction, OutboxItem, OutboxStatus
from triage_desk.storage.models import Message as StoredMessage

log = logging.getLogger(__name__)

BOT_API_MAX_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download (getFile)
RETRY_WINDOW = dt.timedelta(hours=1)  # transient failures are retried this long
BATCH_BYTES = 64 * 1024 * 1024  # at most this much downloaded and held at once
FILENAME_CHARS = 255
FETCH_SECONDS = 120.0  # one file's getFile and download together
# Arrival.meta key (in memory only, never stored) → {file_id: Fetched}
FILES_KEY = "telegram_files"
NOTICE_KIND = "chat_file_too_large"


@dataclass(frozen=True)
class FileRef:
    """One file as a message names it; ``size`` as the sender declared it (None: unknown)."""

    file_id: str
    filename: str
    content_type: str
    size: int | None


@dataclass(frozen=True)
class Fetched:
    """What became of one file: its bytes, or why they are not kept."""

    data: bytes | None
    dropped_reason: str | None = None
    too_large: bool = False
    size: int | None = None  # as Telegram reported it, when the message did not say


def _too_large(size: int, limit: int) -> Fetched:
    return Fetched(None, too_large_reason(size, limit), too_large=True, size=size)


class TransientFailure(Exception):
    """The download may work later (network, timeout, 5xx, 429)."""


def file_refs(message: Message) -> list[FileRef]:
    """Photos (the largest size sent), documents and voice notes of ``message``."""
    found = []
    if message.photo:
        photo = max(message.photo, key=lambda p: p.width * p.height)
        found.append(FileRef(photo.file_id, "photo.jpg", "image/jpeg", photo.file_size))
    if message.document:
        doc = message.document
        name = (doc.file_name or "document")[:FILENAME_CHARS]
        kind = (doc.mime_type or "application/octet-stream")[:200]
        found.append(FileRef(doc.file_id, name, kind, doc.file_size))
    if message.voice:
        voice = message.voice
        kind = (voice.mime_type or "audio/ogg")[:200]
        found.append(FileRef(voice.file_id, "voice.ogg", kind, voice.file_size))
    return found


def size_words(size: int, megabytes: str = "MB", kilobytes: str = "KB") -> str:
    """``size`` bytes as a person reads it: "20 MB", "1.5 MB", "977 KB"."""
    mib = 1024 * 1024
    if size >= mib:
        return f"{round(size / mib, 1):g} {megabytes}"
    return f"{max(1, round(size / 1024))} {kilobytes}"


def too_large_reason(size: int, limit: int) -> str:
    return (
        f"{size} bytes is over the {size_words(limit)} a file may have to be taken "
        "from Telegram; metadata kept, bytes not fetched; the person was asked to send it "
        "by email"
    )


class FileFetcher:
    """Each desk's bot (desk → ``Bot``), run on a loop of its own (the queue runner is
    synchronous); ``limit``: the most bytes a file may have."""

    def __init__(
        self,
        bots: Mapping[str, Bot],
        limit: int = BOT_API_MAX_BYTES,
        timeout: float = FETCH_SECONDS,
    ) -> None:
        self.bots = dict(bots)
        self.limit = min(limit, BOT_API_MAX_BYTES)
        self.timeout = timeout
        self._loop: PrivateLoop | None = None

    @classmethod
    def from_config(cls, config: Config) -> FileFetcher:
        from triage_desk.intake.telegram.links import make_bot

        bots = {name: make_bot(config, name) for name, d in config.desks.items() if d.telegram}
        return cls(bots, config.email.max_attachment_bytes)

    def fetch(self, desk: str, ref: FileRef) -> Fetched:
        """The file's bytes, or metadata with the reason; ``TransientFailure`` to retry."""
        if ref.size is not None and ref.size > self.limit:
            return _too_large(ref.size, self.limit)
        if self._loop is None:
            self._loop = PrivateLoop("telegram-files")
        try:
            return self._loop.run(self._fetch(self.bots[desk], ref), self.timeout)
        except TimeoutError as exc:
            raise TransientFailure(f"no file within {self.timeout:.0f} s") from exc

    async def _fetch(self, bot: Bot, ref: FileRef) -> Fetched:
        try:
            file = await bot.get_file(ref.file_id, read_timeout=30)
            size = file.file_size
            if size is not None and size > self.limit:
                return _too_large(size, self.limit)
            # A self-hosted server in --local mode answers with a path on its own disk, which
            # the library would read from ours: only a download URL of the server is taken.
            if not str(file.file_path or "").startswith(f"{bot.base_file_url}/"):
                return Fetched(None, "Telegram gave no download address for the file")
            data = bytes(await file.download_as_bytearray(read_timeout=self.timeout))
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                return _too_large(ref.size or 0, self.limit)
            return Fetched(None, f"Telegram refused the file: {exc.message}")
        except Forbidden as exc:
            return Fetched(None, f"Telegram refused the file: {exc.message}")
        except TelegramError as exc:  # network, timeout, 5xx, 429, a token refused for now
            raise TransientFailure(f"{type(exc).__name__}: {exc.message}") from exc
        if len(data) > self.limit:  # declared smaller than it came: not kept either
            return _too_large(len(data), self.limit)
        return Fetched(data)

    def close(self) -> None:
        """The bots' connections closed, then the loop."""
        if self._loop is None:
            return
        for bot in self.bots.values():
            try:
                self._loop.run(bot.shutdown(), 10)
            except Exception as exc:  # closing: nothing to do about it but say so
                log.warning("a bot's connections were not closed cleanly (%s)", exc)
        self._loop.close()
        self._loop = None


def with_files(item: Arrival, fetched: Mapping[str, Fetched]) -> Arrival:
    """``item`` carrying its files for the decoder (in memory; the row is not changed)."""
    return dataclasses.replace(item, meta={**item.meta, FILES_KEY: dict(fetched)})


def fetched_of(item: Arrival) -> Mapping[str, Fetched]:
    found = item.meta.get(FILES_KEY)
    return found if isinstance(found, dict) else {}


def queue_too_large_notice(
    session: Session,
    desk: Desk,
    message: dict[str, Any],
    names: list[str],
    language: str,
    limit: int,
    now: dt.datetime,
) -> bool:
    """Tell the person (in the caller's transaction) that these files were too large and
    how else to send them; False when an earlier delivery of the update told them."""
    chat = str(message["chat"]["id"])
    source = message_key(chat, message["message_id"])
    key = f"telegram-file-too-large:{source}"
    if session.scalar(select(OutboxItem.id).where(OutboxItem.dedupe_key == key)) is not None:
        return False
    ticket_id = session.scalar(
        select(StoredMessage.ticket_id).where(
            StoredMessage.channel == CHANNEL,
            StoredMessage.direction == Direction.INBOUND,
            StoredMessage.external_id == source,
        )
    )
    email = desk.config.contacts.get("email") or desk.address
    limit_words = size_words(limit, *SIZE_UNITS[language])
    text = FILE_TOO_LARGE[language].format(names=", ".join(names), limit=limit_words, email=email)
    session.add(
        OutboxItem(
            dedupe_key=key,
            kind=NOTICE_KIND,
            ticket_id=ticket_id,
            channel=CHANNEL,
            sender=desk.address,
            recipient=chat,
            recipient_key=chat,
            subject="",
            body_text=text,
            headers={"in_reply_to": source, "automatic": True},
            status=OutboxStatus.PENDING,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return True
