"""The optional staff group: each new ticket of a desk with ``[desks.<desk>.telegram]
staff_chat_id`` is posted there, with buttons to confirm the suggested category or choose
another; another category asks the member for the reason (a reply to the bot's question,
which Telegram's ForceReply opens), and the reason goes through the desk service's change of
category, which sends the person the recategorisation notice (terms clause 33).

Only the configured group and the members in ``staff_user_ids`` may act: any other press is
refused with an alert and changes nothing; a group message that is no reply to one of our
questions is taken off the queue and nothing else (it never becomes a ticket).

Crash safety: the post is an outbox item written with the ticket (``PostToStaffGroup``, an
intake step after ``write_rows``). A press or a reply is handled in the commit that takes
it off the queue; the desk service's action commits just before, and a replay finds it done
(the decision is there, or the category already changed) and does not act twice.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock
from triage_desk.desks import Desk
from triage_desk.intake.steps.batch import Batch
from triage_desk.intake.telegram.callbacks import answer_press, press_key
from triage_desk.responders.localtime import format_local
from triage_desk.responders.telegram_ids import CHANNEL
from triage_desk.storage.models import (
    Decision,
    OutboxItem,
    OutboxStatus,
    StaffChoice,
    StaffPost,
    Ticket,
    TicketStatus,
)

PREFIX = "sg"
EXCERPT_LINES = 6  # the first lines of the person's text the post shows
EXCERPT_CHARS = 600
MAX_REASON_CHARS = 1000
ASK_VALID = dt.timedelta(days=1)  # how long a chosen category waits for its reason

TEXTS: dict[str, dict[str, str]] = {
    "new": {
        "lv": "Jauns pieteikums {number} ({channel})",
        "en": "New request {number} ({channel})",
        "ru": "Новая заявка {number} ({channel})",
    },
    "category": {
        "lv": "Ieteiktā kategorija: {label} (ticamība {confidence} %)",
        "en": "Suggested category: {label} (confidence {confidence} %)",
        "ru": "Предлагаемая категория: {label} (уверенность {confidence} %)",
    },
    "feedback": {
        "lv": "Atsauksmes veids: {label} (ticamība {confidence} %)",
        "en": "Feedback type: {label} (confidence {confidence} %)",
        "ru": "Тип отзыва: {label} (уверенность {confidence} %)",
    },
    "due": {"lv": "Atbilde līdz: {due}", "en": "Response due: {due}", "ru": "Ответ до: {due}"},
    "confirm": {
        "lv": "✓ Apstiprināt: {label}",
        "en": "✓ Confirm: {label}",
        "ru": "✓ Подтвердить: {label}",
    },
    "change": {"lv": "Mainīt kategoriju…", "en": "Change category…", "ru": "Изменить категорию…"},
    "choose": {
        "lv": "{number}: izvēlieties kategoriju",
        "en": "{number}: choose the category",
        "ru": "{number}: выберите категорию",
    },
    "ask": {
        "lv": "{name}, kāpēc {number} ir „{label}”? Atbildiet uz šo ziņu ar iemeslu: to "
        "nosūtīsim pieteicējam.",
        "en": "{name}, why is {number} \u201c{label}\u201d? Reply to this message with the "
        "reason: the requester is sent it.",
        "ru": "{name}, почему {number} — «{label}»? Ответьте на это сообщение, указав "
        "причину: её отправят заявителю.",
    },
    "confirmed": {
        "lv": "✓ Kategoriju apstiprināja {name}.",
        "en": "✓ Category confirmed by {name}.",
        "ru": "✓ Категорию подтвердил(а) {name}.",
    },
    "changed": {
        "lv": "✓ {number}: kategorija mainīta uz „{label}”; pieteicējam nosūtīts paziņojums.",
        "en": "✓ {number}: category changed to \u201c{label}\u201d; the requester is notified.",
        "ru": "✓ {number}: категория изменена на «{label}»; заявителю отправлено уведомление.",
    },
    "refused": {
        "lv": "{number}: darbība neizdevās ({reason}).",
        "en": "{number}: not done ({reason}).",
        "ru": "{number}: не выполнено ({reason}).",
    },
    "not_staff": {
        "lv": "Šo var darīt tikai atbalsta dienesta darbinieki.",
        "en": "Only the desk's staff can do this.",
        "ru": "Это могут делать только сотрудники службы поддержки.",
    },
    "not_valid": {
        "lv": "Šī poga vairs nav derīga.",
        "en": "This button is no longer valid.",
        "ru": "Эта кнопка больше не действует.",
    },
    "decided": {
        "lv": "Par šo pieteikumu jau ir lēmums.",
        "en": "This request has been decided already.",
        "ru": "По этой заявке уже принято решение.",
    },
    "same": {
        "lv": "Pieteikumam jau ir šī kategorija.",
        "en": "The request is in this category already.",
        "ru": "У заявки уже эта категория.",
    },
    "noted": {"lv": "Pieņemts.", "en": "Done.", "ru": "Принято."},
}
CHANNEL_NAMES = {
    "telegram": {"lv": "Telegram", "en": "Telegram", "ru": "Telegram"},
    "email": {"lv": "e-pasts", "en": "email", "ru": "эл. почта"},
}


def text(key: str, language: str, **values: object) -> str:
    wording = TEXTS[key]
    return (wording.get(language) or wording["en"]).format(**values)


class StaffDecisions(Protocol):
    """The desk service's actions as the group uses them: None when done, else why not."""

    def confirm(self, number: str, staff: str) -> str | None: ...

    def change(self, number: str, category: str, reason: str, staff: str) -> str | None: ...


def _item(
    desk: Desk,
    chat: str,
    key: str,
    body: str,
    now: dt.datetime,
    ticket_id: int | None,
    **headers: Any,
) -> OutboxItem:
    return OutboxItem(
        dedupe_key=key,
        kind="staff_group",
        ticket_id=ticket_id,
        channel=CHANNEL,
        sender=desk.address,
        recipient=chat,
        recipient_key=chat,
        subject="",
        body_text=body,
        headers={"automatic": True, **headers},
        status=OutboxStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
    )


def post_key(post: StaffPost) -> str:
    return f"staff-post:{post.ticket_id}"


# --------------------------------------------------------------------------- posting


class PostToStaffGroup:
    """Intake step (after ``write_rows``): each new ticket of a desk with a staff group is
    posted there, in the transaction that stores it."""

    def __call__(self, batch: Batch) -> None:
        for work in batch.fresh:
            ticket, desk = work.ticket, work.desk
            bot = desk.config.telegram
            if not work.created_ticket or ticket is None or bot is None:
                continue
            if bot.staff_chat_id is None or ticket.status == TicketStatus.ROBOT:
                continue
            batch.session.add_all(self.post(batch.session, desk, ticket, work, batch.now))

    @staticmethod
    def post(
        session: Session, desk: Desk, ticket: Ticket, work: Any, now: dt.datetime
    ) -> list[Any]:
        assert desk.config.telegram is not None
        chat = str(desk.config.telegram.staff_chat_id)
        language = desk.config.default_language
        prediction = work.prediction
        post = StaffPost(
            key=secrets.token_urlsafe(12),
            desk=desk.name,
            ticket_id=ticket.id,
            chat=chat,
            suggested=ticket.category,
            created_at=now,
        )
        label = desk.category_label(ticket.category, language)
        channel = CHANNEL_NAMES.get(ticket.channel or "", {}).get(language, ticket.channel or "")
        lines = [
            text("new", language, number=ticket.number, channel=channel),
            text(
                "category",
                language,
                label=label,
                confidence=round(100 * prediction.category_confidence),
            ),
        ]
        feedback = desk.feedback_label(ticket.feedback_type, language)
        if feedback:
            confidence = round(100 * prediction.feedback_confidence)
            lines.append(text("feedback", language, label=feedback, confidence=confidence))
        if ticket.response_due is not None:
            due = format_local(ticket.response_due, desk.calendar.zone, language)
            lines.append(text("due", language, due=due))
        body = work.inbound.new_text or work.inbound.text
        excerpt = "\n".join(body.strip().splitlines()[:EXCERPT_LINES])[:EXCERPT_CHARS]
        lines += ["", excerpt] if excerpt else []
        buttons = [
            [{"text": text("confirm", language, label=label), "data": f"{PREFIX}:{post.key}:ok"}],
            [{"text": text("change", language), "data": f"{PREFIX}:{post.key}:ch"}],
        ]
        item = _item(desk, chat, post_key(post), "\n".join(lines), now, ticket.id, buttons=buttons)
        return [post, item]


# --------------------------------------------------------------------------- presses, replies


Alongside = Callable[[Session], None]


class StaffGroup:
    """``decisions``: the desk service's confirm and change of category."""

    def __init__(
        self, sessions: sessionmaker[Session], decisions: StaffDecisions, clock: Clock
    ) -> None:
        self.sessions = sessions
        self.decisions = decisions
        self.clock = clock

    @staticmethod
    def _staff(desk: Desk, chat_id: object, user_id: object) -> bool | None:
        """True for a configured member in the group, False for anyone else there, None
        when it is not the desk's staff group at all."""
        bot = desk.config.telegram
        if bot is None or bot.staff_chat_id is None or chat_id != bot.staff_chat_id:
            return None
        return isinstance(user_id, int) and user_id in bot.staff_user_ids

    def press(self, desk: Desk, query: dict[str, Any], alongside: Alongside) -> str:
        language = desk.config.default_language
        parts = str(query.get("data", "")).split(":")
        user = query["from"]
        staff = self._staff(desk, query["message"]["chat"].get("id"), user.get("id"))
        with self.sessions() as session:
            post = (
                session.scalar(select(StaffPost).where(StaffPost.key == parts[1]))
                if len(parts) >= 3
                else None
            )
            answered = session.scalar(
                select(OutboxItem.id).where(OutboxItem.dedupe_key == press_key(query))
            )
            number = session.get(Ticket, post.ticket_id).number if post is not None else ""
            decided = post is not None and post.decided_at is not None
        if answered:
            return self._done(alongside)
        refusal = None
        if (
            staff is None
            or post is None
            or post.desk != desk.name
            or post.chat != str(query["message"]["chat"]["id"])
        ):
            refusal = "not_valid"
        elif not staff:
            refusal = "not_staff"
        elif decided:
            refusal = "decided"
        if refusal is not None:
            return self._answer(
                desk, query, text(refusal, language), alongside, alert=True, detail="press refused"
            )
        assert post is not None
        who = f"telegram:{user['id']}"
        name = str(user.get("first_name") or who)[:64]
        action = parts[2]
        now = self.clock()
        if action == "ok":
            failed = None if self._confirmed(post, who) else self.decisions.confirm(number, who)
            with self.sessions.begin() as session:
                if failed is not None:
                    answer_press(
                        session,
                        desk,
                        query,
                        text("refused", language, number=number, reason=failed)[:200],
                        now,
                        alert=True,
                    )
                else:
                    stored = session.get(StaffPost, post.id)
                    stored.decided_at, stored.decided_by, stored.decision = now, who, "confirmed"
                    answer_press(session, desk, query, text("noted", language), now)
                    session.add(
                        _item(
                            desk,
                            post.chat,
                            f"staff-post-edit:{post.id}",
                            text("confirmed", language, name=name),
                            now,
                            post.ticket_id,
                            edit_of=post_key(post),
                            append=True,
                        )
                    )
                alongside(session)
            return "confirmed" if failed is None else "confirm refused"
        if action == "ch":
            categories = list(desk.config.categories)
            buttons = [
                [
                    {
                        "text": desk.category_label(key, language),
                        "data": f"{PREFIX}:{post.key}:c:{index}",
                    }
                ]
                for index, key in enumerate(categories)
            ]
            with self.sessions.begin() as session:
                answer_press(session, desk, query, text("noted", language), now)
                session.add(
                    _item(
                        desk,
                        post.chat,
                        f"staff-choose:{query['id']}",
                        text("choose", language, number=number),
                        now,
                        post.ticket_id,
                        buttons=buttons,
                    )
                )
                alongside(session)
            return "categories shown"
        if action == "c" and len(parts) == 4 and parts[3].isdigit():
            categories = list(desk.config.categories)
            index = int(parts[3])
            if index >= len(categories):
                return self._answer(
                    desk,
                    query,
                    text("not_valid", language),
                    alongside,
                    alert=True,
                    detail="press refused",
                )
            category = categories[index]
            with self.sessions.begin() as session:
                ticket = session.get(Ticket, post.ticket_id)
                if ticket.category == category:
                    answer_press(session, desk, query, text("same", language), now, alert=True)
                    alongside(session)
                    return "same category"
                choice = StaffChoice(
                    post_id=post.id,
                    chat=post.chat,
                    user_id=int(user["id"]),
                    category=category,
                    asked_at=now,
                )
                session.add(choice)
                session.flush()
                answer_press(session, desk, query, text("noted", language), now)
                label = desk.category_label(category, language)
                session.add(
                    _item(
                        desk,
                        post.chat,
                        ask_key(choice),
                        text("ask", language, name=name, number=number, label=label),
                        now,
                        post.ticket_id,
                        force_reply=True,
                    )
                )
                alongside(session)
            return "reason asked"
        return self._answer(
            desk, query, text("not_valid", language), alongside, alert=True, detail="press refused"
        )

    def reply(self, desk: Desk, message: dict[str, Any], alongside: Alongside) -> str:
        """A member's reply in the group: the reason for a category they chose, if it
        answers our question to them; anything else is left alone."""
        language = desk.config.default_language
        user_id = (message.get("from") or {}).get("id")
        if not self._staff(desk, message["chat"].get("id"), user_id):
            return self._done(alongside, "group message ignored")
        reason = str(message.get("text") or "").strip()[:MAX_REASON_CHARS]
        answered = (message.get("reply_to_message") or {}).get("message_id")
        now = self.clock()
        with self.sessions() as session:
            choice = self._asked(session, str(message["chat"]["id"]), int(user_id), answered, now)
            if choice is None or not reason:
                session.close()
                return self._done(alongside, "group message ignored")
            post = session.get(StaffPost, choice.post_id)
            ticket = session.get(Ticket, post.ticket_id) if post is not None else None
            assert post is not None and ticket is not None
            number, category, choice_id, post_id = (
                ticket.number,
                choice.category,
                choice.id,
                post.id,
            )
            already = ticket.category == category  # changed before a crash: not again
        who = f"telegram:{user_id}"
        failed = None if already else self.decisions.change(number, category, reason, who)
        with self.sessions.begin() as session:
            stored = session.get(StaffChoice, choice_id)
            stored.done_at = now
            if failed is None:
                post = session.get(StaffPost, post_id)
                post.decided_at, post.decided_by, post.decision = now, who, "changed"
                said = text(
                    "changed",
                    language,
                    number=number,
                    label=desk.category_label(category, language),
                )
            else:
                said = text("refused", language, number=number, reason=failed)
            session.add(
                _item(
                    desk,
                    str(message["chat"]["id"]),
                    f"staff-reason:{message['chat']['id']}:{message['message_id']}",
                    said,
                    now,
                    None,
                    in_reply_to=f"{message['chat']['id']}:{message['message_id']}",
                )
            )
            alongside(session)
        return "category changed" if failed is None else "change refused"

    # -- helpers ---------------------------------------------------------------------------

    def _asked(
        self, session: Session, chat: str, user_id: int, answered: object, now: dt.datetime
    ) -> StaffChoice | None:
        """The member's open question that ``answered`` (a message id) replies to."""
        choices = session.scalars(
            select(StaffChoice)
            .where(
                StaffChoice.chat == chat,
                StaffChoice.user_id == user_id,
                StaffChoice.done_at.is_(None),
                StaffChoice.asked_at >= now - ASK_VALID,
            )
            .order_by(StaffChoice.id.desc())
        ).all()
        for choice in choices:
            parts = session.scalar(
                select(OutboxItem.delivered_parts).where(OutboxItem.dedupe_key == ask_key(choice))
            )
            known = [p for p in (parts or []) if p]
            if known and known[-1] == answered:
                return choice
        return None

    def _confirmed(self, post: StaffPost, who: str) -> bool:
        """The confirmation was made (a replay after a crash before it was recorded here)."""
        with self.sessions() as session:
            found = session.scalar(
                select(Decision.id).where(
                    Decision.ticket_id == post.ticket_id,
                    Decision.staff == who,
                    Decision.field == "category",
                    Decision.from_value == Decision.to_value,
                    Decision.created_at >= post.created_at,
                )
            )
        return found is not None

    def _answer(
        self,
        desk: Desk,
        query: dict[str, Any],
        said: str,
        alongside: Alongside,
        *,
        alert: bool,
        detail: str,
    ) -> str:
        with self.sessions.begin() as session:
            answer_press(session, desk, query, said, self.clock(), alert=alert)
            alongside(session)
        return detail

    def _done(self, alongside: Alongside, detail: str = "press answered already") -> str:
        with self.sessions.begin() as session:
            alongside(session)
        return detail


def ask_key(choice: StaffChoice) -> str:
    return f"staff-ask:{choice.id}"
