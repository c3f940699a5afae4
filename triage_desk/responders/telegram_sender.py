"""The Telegram half of the outbound side: the outbox's sender for channel ``"telegram"``.

An item's text goes to the chat (its recipient is the chat id) through the desk's bot:
python-telegram-bot's ``ExtBot`` with its ``AIORateLimiter`` (the bot's overall limits) and
our pace of about one message a second per chat, in parse mode HTML with the whole text
escaped (templates, a person's subject, a staff member's words: nothing of it is markup).
A text over 4,096 characters goes as several messages, cut where a reader would pause
(``telegram_split``); the first one is a reply to the person's last message when we know it.

What ``send`` raises tells the dispatcher what to do (``TransportError``):

* 429 (``RetryAfter``): ``retry_after`` = Telegram's seconds; that item alone waits;
* 403 (``Forbidden``: blocked, account deleted): the chat is marked undeliverable, staff are
  told, the ticket is kept; permanent, and nothing more is sent to that chat;
* 400 (``BadRequest``): permanent (the same request would be refused again);
* no answer (``NetworkError``, ``TimedOut``): retried.

Each part's message id is written to ``outbox.delivered_parts`` as soon as Telegram returns
it, and a part is marked in flight (``None``) before it is sent. So a retry, after any
failure or a crash, never sends a part whose id we hold. What cannot be known: whether a
part whose answer never came (a lost response, a crash during the request) reached the chat;
the Bot API lets a bot read no chat history to check. Such a part is sent again, and that
possible repeat is logged and audited (``telegram_possible_repeat``).
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Mapping
from html import escape
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from telegram import ForceReply, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, ExtBot
from telegram.warnings import PTBDeprecationWarning

from triage_desk.clock import Clock, system_clock
from triage_desk.config import Config
from triage_desk.desks import Desks
from triage_desk.responders.chat_pacing import ChatPacer
from triage_desk.responders.chat_undeliverable import is_undeliverable, mark_chat_undeliverable
from triage_desk.responders.private_loop import PrivateLoop
from triage_desk.responders.render import TemplateRenderer
from triage_desk.responders.telegram_ids import reply_target
from triage_desk.responders.telegram_split import split_message
from triage_desk.responders.transports import TransportError
from triage_desk.storage.models import AuditEvent, OutboxItem, OutboxStatus

log = logging.getLogger(__name__)

# One part's whole send (the chat's pace, the bot's limiter, the request) must end in this.
SEND_TIMEOUT = 60.0


def bots_from_config(config: Config) -> dict[str, ExtBot[Any]]:
    """Each desk's bot (desk name → bot), at the configured Bot API server."""
    base = config.telegram.api_base_url
    return {
        name: ExtBot(
            desk.telegram.token().strip(),
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            # No retries inside the limiter: a 429 goes back to the dispatcher, which holds
            # that item for retry_after while the others go on.
            rate_limiter=AIORateLimiter(max_retries=0),
        )
        for name, desk in config.desks.items()
        if desk.telegram is not None
    }


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # an int before PTB 22.2, a timedelta after
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def reply_markup(headers: Mapping[str, Any]) -> InlineKeyboardMarkup | ForceReply | None:
    """An item's channel-neutral ``buttons`` (rows of label and data) as Telegram's inline
    keyboard, or ``force_reply``: the chat's app opens a reply to the message."""
    rows = headers.get("buttons")
    if rows:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(str(b["text"]), callback_data=str(b["data"])) for b in row]
                for row in rows
            ]
        )
    if headers.get("force_reply"):
        return ForceReply(selective=True)
    return None


def is_spent(exc: BadRequest) -> bool:
    """Telegram refuses a repeat of what is done: the same edit again, or a press answered
    after its time."""
    text = exc.message.lower()
    return "not modified" in text or "query is too old" in text


def _refused(exc: BaseException) -> bool:
    """Telegram answered with a refusal; not so when no answer came (the library calls a
    400 a NetworkError too, but it is an answer)."""
    return isinstance(exc, BadRequest) or not isinstance(exc, NetworkError | TimeoutError)


class TelegramSender:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        renderer: TemplateRenderer,
        bots: Mapping[str, ExtBot[Any]],
        *,
        sender_name: str = "Triage Desk",
        now: Clock = system_clock,
        pacer: ChatPacer | None = None,
    ) -> None:
        self.sessions = sessions
        self.desks = desks
        self.renderer = renderer
        self.bots = dict(bots)
        self.sender_name = sender_name
        self.now = now
        self.pacer = pacer or ChatPacer()
        self._loop = PrivateLoop("telegram-sender")
        self._ready: set[str] = set()  # desks whose bot is initialised on the loop

    @classmethod
    def from_config(
        cls,
        config: Config,
        sessions: sessionmaker[Session],
        desks: Desks,
        renderer: TemplateRenderer,
        now: Clock = system_clock,
    ) -> TelegramSender:
        return cls(
            sessions,
            desks,
            renderer,
            bots_from_config(config),
            sender_name=config.outbound.from_name,
            now=now,
        )

    # -- the dispatcher's side -------------------------------------------------------------

    def send(self, item: OutboxItem) -> None:
        chat = item.recipient
        desk = self.desks.for_address(item.sender)
        bot = self.bots.get(desk.name) if desk else None
        if bot is None or desk is None:
            raise TransportError(f"no Telegram bot for desk address {item.sender}", True)
        with self.sessions() as session:
            reason = is_undeliverable(session, item.channel, chat)
        if reason is not None:
            raise TransportError(f"chat {chat} is marked undeliverable ({reason})", True)
        self._start(desk.name, bot)
        if item.headers.get("callback_query_id") or item.headers.get("edit_of"):
            self._act(bot, item)  # a press's answer, an edit: one request, no parts
            return
        pieces = [p for p in split_message(item.body_text) if p.strip()]
        delivered: list[int | None] = list(item.delivered_parts or [])[: len(pieces)]
        for index, piece in enumerate(pieces):
            if index < len(delivered) and delivered[index] is not None:
                continue  # sent by an earlier attempt: its id is stored
            if index < len(delivered):
                self._possible_repeat(item, index, len(pieces))
            delivered = [*delivered[:index], None]
            self._record(item, delivered)  # in flight: a lost answer is known as such
            first, last = index == 0, index == len(pieces) - 1
            reply_to = reply_target(chat, item.headers.get("in_reply_to")) if first else None
            markup = reply_markup(item.headers) if last else None
            try:
                message_id = self._loop.run(
                    self._send_part(bot, chat, piece, reply_to, markup), SEND_TIMEOUT
                )
            except (TelegramError, TimeoutError) as exc:
                if _refused(exc):  # nothing of it reached the chat: not in flight
                    self._record(item, delivered[:index])
                raise self._failure(item, exc, index, len(pieces)) from exc
            delivered[index] = message_id
            self._record(item, delivered)

    def close(self) -> None:
        """End the bots' HTTP sessions and the loop (at shutdown)."""
        for name in list(self._ready):
            try:
                self._loop.run(self.bots[name].shutdown(), SEND_TIMEOUT)
            except (TelegramError, TimeoutError) as exc:
                log.warning("the %s desk's Telegram bot did not shut down cleanly: %s", name, exc)
        self._ready.clear()
        self._loop.close()

    # -- the parts -------------------------------------------------------------------------

    def _start(self, desk: str, bot: ExtBot[Any]) -> None:
        """Initialise the bot once (getMe); nothing is sent yet, so any failure is retried."""
        if desk in self._ready:
            return
        try:
            self._loop.run(bot.initialize(), SEND_TIMEOUT)
        except (TelegramError, TimeoutError) as exc:
            raise TransportError(f"Telegram bot of desk {desk} not ready: {exc}") from exc
        self._ready.add(desk)

    async def _send_part(
        self,
        bot: ExtBot[Any],
        chat: str,
        text: str,
        reply_to: int | None,
        markup: InlineKeyboardMarkup | ForceReply | None = None,
    ) -> int:
        await self.pacer.wait(chat)
        message = await bot.send_message(
            chat_id=int(chat),
            text=escape(text, quote=False),  # all of it is text, none of it markup
            parse_mode=ParseMode.HTML,
            reply_to_message_id=reply_to,
            # The person may have deleted the message we answer: send unthreaded then.
            allow_sending_without_reply=True if reply_to else None,
            reply_markup=markup,
        )
        return message.message_id

    def _act(self, bot: ExtBot[Any], item: OutboxItem) -> None:
        """An item that sends no message: the answer to a button press
        (``answerCallbackQuery``), or an edit of a message we sent (``editMessageText``: the
        text, with its buttons gone). Each is one request; repeating it changes nothing."""
        try:
            self._loop.run(self._action(bot, item), SEND_TIMEOUT)
        except BadRequest as exc:
            if is_spent(exc):  # done before (a retry), or the press is too old: nothing to do
                log.info("outbox item %s: %s; nothing more to do", item.id, exc.message)
                return
            raise self._failure(item, exc, 0, 1) from exc
        except (TelegramError, TimeoutError) as exc:
            raise self._failure(item, exc, 0, 1) from exc

    async def _action(self, bot: ExtBot[Any], item: OutboxItem) -> None:
        headers = item.headers
        if headers.get("callback_query_id"):
            await bot.answer_callback_query(
                str(headers["callback_query_id"]),
                text=item.body_text[:200] or None,  # Telegram shows at most 200 characters
                show_alert=bool(headers.get("alert")),
            )
            return
        with self.sessions() as session:
            target = session.scalar(
                select(OutboxItem).where(OutboxItem.dedupe_key == headers["edit_of"])
            )
        known = [part for part in (target.delivered_parts if target else []) if part]
        if target is not None and not known and target.status == OutboxStatus.PENDING:
            raise TransportError("the message to edit is not sent yet")  # retried later
        if target is None or not known:
            raise BadRequest("message to edit not found")
        text = item.body_text
        if headers.get("append"):  # under the last part of what it said
            last = [p for p in split_message(target.body_text) if p.strip()][-1]
            text = f"{last.rstrip()}\n\n{item.body_text}"
        await self.pacer.wait(target.recipient)
        await bot.edit_message_text(
            escape(text, quote=False),
            chat_id=int(target.recipient),
            message_id=int(known[-1]),
            parse_mode=ParseMode.HTML,
            reply_markup=reply_markup(headers),
        )

    def _failure(
        self, item: OutboxItem, exc: BaseException, index: int, count: int
    ) -> TransportError:
        part = f"part {index + 1} of {count}: " if count > 1 else ""
        if isinstance(exc, RetryAfter):
            seconds = _seconds(exc)
            return TransportError(
                f"{part}Telegram flood control: retry after {seconds:g} s", retry_after=seconds
            )
        if isinstance(exc, Forbidden):
            self._undeliverable(item, exc.message)
            return TransportError(f"{part}Telegram refused the chat: {exc.message}", True)
        if isinstance(exc, BadRequest | ChatMigrated):
            return TransportError(f"{part}Telegram refused the message: {exc}", True)
        if isinstance(exc, InvalidToken):
            return TransportError(f"{part}Telegram refused the bot's token: {exc}")
        return TransportError(
            f"{part}no answer from Telegram ({type(exc).__name__}: {exc}); it may have been "
            "delivered, and the retry may repeat it"
        )

    # -- the database ----------------------------------------------------------------------

    def _record(self, item: OutboxItem, delivered: list[int | None]) -> None:
        """Commit what was delivered now, not at the end: a retry must know it."""
        item.delivered_parts = delivered
        table = OutboxItem.__table__
        try:
            with self.sessions.begin() as session:
                session.execute(
                    update(table)
                    .where(table.c.id == item.id, table.c.status == OutboxStatus.PENDING)
                    .values(delivered_parts=delivered)
                )
        except SQLAlchemyError as exc:
            # Stop before the next part: what was sent could not be written down.
            raise TransportError(f"delivered parts not recorded: {exc}") from exc

    def _undeliverable(self, item: OutboxItem, reason: str) -> None:
        with self.sessions.begin() as session:
            marked = mark_chat_undeliverable(
                session,
                item=item,
                reason=f"Telegram: {reason}",
                desks=self.desks,
                renderer=self.renderer,
                sender_name=self.sender_name,
                now=self.now(),
            )
        if marked:
            log.warning("Telegram chat %s marked undeliverable: %s", item.recipient, reason)

    def _possible_repeat(self, item: OutboxItem, index: int, count: int) -> None:
        log.warning(
            "outbox item %s: part %d of %d to chat %s is sent again; its earlier send got no "
            "answer and may have reached the chat",
            item.id,
            index + 1,
            count,
            item.recipient,
        )
        with self.sessions.begin() as session:
            session.add(
                AuditEvent(
                    at=self.now(),
                    actor="dispatcher",
                    action="telegram_possible_repeat",
                    ticket_id=item.ticket_id,
                    details={"outbox_id": item.id, "part": index + 1, "parts": count},
                )
            )
