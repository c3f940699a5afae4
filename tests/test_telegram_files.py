"""Files sent to the desk's bot, end to end: the real python-telegram-bot fetches them from
our Bot API stand-in (getFile, then the download), they become the ticket's attachment rows
as email's do, a file over the limit is kept as metadata and the person told how else to
send it (once), and a download that fails for now leaves the message queued for later."""

from __future__ import annotations

from sqlalchemy import select

from tests import telegram_channel
from tests.telegram_channel import CHAT
from triage_desk.app import build_desk_service
from triage_desk.cli.tickets import ticket_json
from triage_desk.intake.telegram.files import RETRY_WINDOW, FileFetcher
from triage_desk.intake.telegram.links import make_bot
from triage_desk.storage.models import OutboxItem, QueuedInbound, StoredAttachment

channel = telegram_channel.channel  # the fixture

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40  # 10 KiB with every byte value
CAPTION = "Pielikumā rēķins, kuru nevaru atvērt portālā."


def shown(channel) -> dict:
    """What `triage ticket show --json` prints for the only ticket."""
    [ticket] = channel.tickets()
    return ticket_json(build_desk_service(channel.app).ticket(ticket.number))


def downloads(channel) -> int:
    return len(channel.api.calls_to("download"))


def test_a_document_is_fetched_and_stored_as_the_tickets_attachment(channel):
    channel.api.push_file(CHAT, PDF, caption=CAPTION, file_name="rēķins 03.pdf")
    channel.round()
    [message] = shown(channel)["messages"][:1]
    assert message["text"] == CAPTION
    [attachment] = message["attachments"]
    assert attachment["filename"] == "rēķins 03.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert (attachment["stored"], attachment["size"], attachment["dropped_reason"]) == (
        True, len(PDF), None,
    )  # fmt: skip
    with channel.app.sessions() as session:
        assert session.scalar(select(StoredAttachment.data)) == PDF
    assert len(channel.bot_says()) == 1  # the acknowledgement, nothing about the file


def test_a_photo_is_fetched_in_its_largest_size_and_a_voice_note_too(channel):
    photo = b"\xff\xd8\xff\xe0JFIF" + b"p" * 5000
    channel.api.push_file(CHAT, photo, kind="photo", caption=CAPTION)
    channel.api.push_file(CHAT, b"OggS voice", kind="voice", mime_type="audio/ogg")
    channel.round()
    messages = [m for m in shown(channel)["messages"] if m["direction"] == "in"]
    files = [[(a["filename"], a["size"], a["stored"]) for a in m["attachments"]] for m in messages]
    assert files == [[("photo.jpg", len(photo), True)], [("voice.ogg", len(b"OggS voice"), True)]]
    with channel.app.sessions() as session:
        assert session.scalars(select(StoredAttachment.data)).all() == [photo, b"OggS voice"]


def test_a_file_declared_over_20_mb_is_not_fetched_and_the_person_is_told_once(channel):
    update = channel.api.push_file(
        CHAT, b"too big", caption=CAPTION, file_name="video.mp4", declared_size=25 * 1024 * 1024
    )
    assert channel.poll() == 1
    channel.work()
    restarted = channel.new_poller()  # killed before confirming: the update comes again
    channel.clock.advance(seconds=90)
    channel.api.push_update({"message": update["message"]})  # and once more, another id
    channel.poll(restarted)
    channel.work()
    assert channel.api.calls_to("getFile") == [] and downloads(channel) == 0
    [attachment] = shown(channel)["messages"][0]["attachments"]
    assert (attachment["filename"], attachment["stored"], attachment["size"]) == (
        "video.mp4", False, 25 * 1024 * 1024,
    )  # fmt: skip
    assert "over the 20 MB" in attachment["dropped_reason"]
    _ack, notice = channel.bot_says()  # one acknowledgement, one notice: no repeats
    assert "video.mp4" in notice and "20 MB" in notice
    assert "pa e-pastu uz atbalsts@example.lv" in notice  # lv: the chat's language
    with channel.app.sessions() as session:
        [item] = session.scalars(select(OutboxItem).where(OutboxItem.kind == "chat_file_too_large"))
        assert item.ticket_id == channel.tickets()[0].id


def test_the_desks_lower_email_limit_applies_and_is_checked_on_what_telegram_reports(channel):
    config = channel.app.config
    email = config.email.model_copy(update={"max_attachment_bytes": 1000})
    lowered = config.model_copy(update={"email": email})
    assert FileFetcher.from_config(lowered).limit == 1000
    assert FileFetcher.from_config(config).limit == 20 * 1024 * 1024
    channel.app.telegram_files = FileFetcher({"municipal": make_bot(config, "municipal")}, 1000)
    # No size in the update: getFile's file_size (2,000 bytes) is over the limit.
    channel.api.push_file(
        CHAT, b"x" * 2000, file_name="big.pdf", caption=CAPTION, declared_size=None,
        language_code="en",
    )  # fmt: skip
    channel.round()
    assert len(channel.api.calls_to("getFile")) == 1 and downloads(channel) == 0
    [attachment] = shown(channel)["messages"][0]["attachments"]
    assert not attachment["stored"] and attachment["size"] == 2000
    assert "over the 1 KB" in attachment["dropped_reason"]
    notice = channel.bot_says()[-1]
    assert notice.startswith("We could not receive big.pdf") and "by email to" in notice


def test_a_download_that_fails_for_now_is_retried_later_not_dropped(channel):
    channel.api.fail_files(502, "Bad Gateway", times=2)
    channel.api.push_file(CHAT, PDF, caption=CAPTION)
    channel.round()
    assert channel.tickets() == [] and channel.bot_says() == []  # nothing stored or said yet
    with channel.app.sessions() as session:
        [row] = session.scalars(select(QueuedInbound))
        assert row.attempts == 1 and "Bad Gateway" in row.last_error
        assert row.next_attempt_at > channel.clock()
    channel.work()  # not due yet: nothing happens
    assert len(channel.api.calls_to("getFile")) == 1
    channel.clock.advance(seconds=6)
    channel.work()  # fails again: waits longer
    assert channel.tickets() == [] and len(channel.api.calls_to("getFile")) == 2
    channel.clock.advance(seconds=11)
    channel.work()
    [attachment] = shown(channel)["messages"][0]["attachments"]
    assert attachment["stored"] and attachment["size"] == len(PDF)
    assert len(channel.bot_says()) == 1
    with channel.app.sessions() as session:
        assert session.scalars(select(QueuedInbound)).all() == []


def test_after_an_hour_of_failures_the_message_is_stored_with_the_files_metadata(channel):
    channel.api.fail_files(502, "Bad Gateway", times=-1)
    channel.api.push_file(CHAT, PDF, caption=CAPTION, file_name="akts.pdf")
    channel.round()
    assert channel.tickets() == []
    channel.clock.advance(seconds=RETRY_WINDOW.total_seconds() + 1)
    channel.work()
    [message] = shown(channel)["messages"][:1]
    assert message["text"] == CAPTION
    [attachment] = message["attachments"]
    assert attachment["filename"] == "akts.pdf" and not attachment["stored"]
    assert "not downloaded from Telegram in 1 h" in attachment["dropped_reason"]
    assert "Bad Gateway" in attachment["dropped_reason"]
    assert len(channel.bot_says()) == 1  # acknowledged; a failure of ours is not theirs


def test_a_file_telegram_refuses_is_kept_as_metadata_with_the_reason(channel):
    channel.api.fail_files(400, "Bad Request: invalid file_id")
    channel.api.push_file(CHAT, PDF, caption=CAPTION)
    channel.round()
    [attachment] = shown(channel)["messages"][0]["attachments"]
    assert not attachment["stored"]
    assert attachment["dropped_reason"] == "Telegram refused the file: Invalid file_id"
