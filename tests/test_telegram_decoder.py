"""The Telegram decoder: a queued update's JSON → the normalised message, or the quarantine
with the reason; which updates are queued at all."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from tests.helpers import queue_runner
from triage_desk.app import email_decoders
from triage_desk.clock import FixedClock
from triage_desk.config import EmailConfig
from triage_desk.desks import Desks
from triage_desk.intake.email.ingest import EmailIntake
from triage_desk.intake.errors import Deadline, Unparseable
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.intake.queue import Arrival, InboundQueue
from triage_desk.intake.telegram.decoder import TelegramDecoder, language_of, register
from triage_desk.intake.telegram.updates import arrival
from triage_desk.intake.triage import MessageTriage
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import QuarantinedMail, QueuedInbound

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
CHAT = 424242
BOT = {"id": 1, "is_bot": True, "first_name": "B"}


def update(update_id: int = 7, chat_type: str = "private", **message: object) -> dict:
    body = {
        "message_id": 3,
        "from": {"id": CHAT, "is_bot": False, "first_name": "Ilze", "last_name": "Kalniņa",
                 "language_code": "ru-RU"},
        "chat": {"id": CHAT, "type": chat_type},
        "date": 1_796_000_000,
        **message,
    }  # fmt: skip
    return {"update_id": update_id, "message": body}


def decode(data: dict, desk: str = "municipal"):
    item = arrival(data, desk, NOW)
    assert item is not None
    return TelegramDecoder({"municipal": 5}).decode(item, Deadline.none())


def test_a_private_text_message_is_a_message_from_its_chat():
    message = decode(update(text="Portāls nestrādā\nRāda kļūdu 500, kad spiežu Saglabāt."))
    assert (message.channel, message.desk, message.sender) == ("telegram", "municipal", "424242")
    assert message.external_id == f"{CHAT}:3"  # what the sender threads a reply under
    assert message.subject == "Portāls nestrādā"
    assert message.text == message.new_text and "kļūdu 500" in message.text
    assert message.sender_name == "Ilze Kalniņa" and message.replyable and message.own_id
    assert message.language_hint == "ru" and message.continue_days == 5
    assert message.sent_at == dt.datetime.fromtimestamp(1_796_000_000, dt.UTC)
    assert message.received_at == NOW and message.headers == {"update_id": 7}


def test_photos_documents_and_voice_are_attachment_metadata_with_the_caption_as_text():
    photos = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 60, "file_size": 900},
        {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 9e4},
    ]
    document = {"file_id": "doc1", "file_unique_id": "d", "file_name": "akts.pdf",
                "mime_type": "application/pdf", "file_size": 2048}  # fmt: skip
    message = decode(update(caption="Kļūdas ekrānuzņēmums", photo=photos, document=document))
    assert message.text == "Kļūdas ekrānuzņēmums"
    assert [(a.filename, a.content_type, a.content_id, a.size) for a in message.attachments] == [
        ("photo.jpg", "image/jpeg", "big", 90000),
        ("akts.pdf", "application/pdf", "doc1", 2048),
    ]
    assert all(a.data == b"" and a.dropped_reason for a in message.attachments)
    voice = {"file_id": "v1", "file_unique_id": "v", "duration": 4, "mime_type": "audio/ogg"}
    spoken = decode(update(voice=voice))
    assert spoken.text == "" and spoken.subject == "voice.ogg"
    assert [a.content_id for a in spoken.attachments] == ["v1"]


@pytest.mark.parametrize(
    "data",
    [
        update(chat_type="group", text="Sveiki visiem"),
        update(chat_type="channel", text="Ziņas"),
        {"update_id": 8, "edited_message": update(chat_type="group")["message"]},
        {"update_id": 9, "my_chat_member": {}},
        {"update_id": 10, "message": update()["message"] | {"from": BOT, "text": "auto"}},
        {"update_id": 11, "message": update()["message"] | {"message_id": "3"}},
    ],
    ids=["group", "channel", "group-edit", "member-change", "from-a-bot", "no-message-id"],
)
def test_only_a_persons_private_message_is_queued_the_rest_is_ignored(data):
    assert arrival(data, "municipal", NOW) is None


def test_an_item_that_is_no_private_message_is_refused_with_the_reason():
    decoder = TelegramDecoder({})
    bad = Arrival("telegram", "municipal", b"{not json", NOW)
    with pytest.raises(Unparseable, match="bad JSON"):
        decoder.decode(bad, Deadline.none())
    group = json.dumps(update(chat_type="group", text="x")).encode()
    with pytest.raises(Unparseable, match="private chat"):
        decoder.decode(Arrival("telegram", "municipal", group, NOW), Deadline.none())
    with pytest.raises(Unparseable, match="no text"):
        decode(update())


def test_language_codes_map_to_the_desks_languages():
    assert [language_of(c) for c in ("lv", "ru-RU", "EN-gb", "de", None, "")] == [
        "lv", "ru", "en", None, None, None,
    ]  # fmt: skip


def test_the_apps_language_decides_only_when_the_text_cannot(example_config, classifier):
    triage = MessageTriage(Desks(example_config), classifier)
    short, russian_app = (
        decode(update(text="OK")),
        decode(update(text="Sveiki! Nevaru ielogoties portālā, parole neder.")),
    )
    without = short.__class__(**{**short.__dict__, "language_hint": None})
    languages = [t.prediction.language for t in triage.triage([short, without, russian_app])]
    assert languages == ["ru", "lv", "lv"]  # the hint; the desk's default; the text


def test_an_undecodable_update_in_the_queue_is_quarantined_with_the_reason(
    database_url, example_config, classifier
):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    pipeline = IntakePipeline(
        sessions, Desks(example_config), classifier, TemplateRenderer(), now=FixedClock(NOW)
    )
    decoders = email_decoders(EmailConfig())
    register(decoders, {"municipal": 7})
    queue = InboundQueue(sessions, FixedClock(NOW))
    queue.enqueue(
        [
            Arrival(
                "telegram", "municipal", b'{"update_id": 1', NOW, {"source": "telegram:municipal"}
            )
        ]
    )
    intake = EmailIntake(sessions, pipeline, EmailConfig())
    assert queue_runner(intake, queue, decoders=decoders).drain() == 1
    with sessions() as session:
        [held] = session.scalars(select(QuarantinedMail)).all()
        assert session.scalar(select(QueuedInbound.id)) is None
    assert (held.channel, held.reason, held.source) == (
        "telegram",
        "unparseable",
        "telegram:municipal",
    )
    assert "bad JSON" in held.detail
    engine.dispose()
