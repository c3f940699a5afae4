"""The Bot API stand-in answers the real python-telegram-bot as Telegram does."""

from __future__ import annotations

import asyncio

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter

from tests.telegram_api import ApiError, bot_api, visible_text


def run(coro):
    return asyncio.run(coro)


def bot_for(api) -> Bot:
    return Bot(api.token, base_url=f"{api.base_url}/bot", base_file_url=f"{api.base_url}/file/bot")


def test_html_is_checked_as_telegram_checks_it():
    assert visible_text("<b>a</b> &lt;b&gt; &amp; &#39;") == "a <b> & '"
    for broken in ("a < b", "<b>open", "<script>x</script>", "AT&T", "1 > 0", "<i></b>"):
        with pytest.raises(ApiError):
            visible_text(broken)


def test_send_edit_and_refusals_through_the_real_library():
    with bot_api() as api:
        chat = 501
        api.push_message(chat, "Labdien")

        async def scenario():
            async with bot_for(api) as bot:
                me = await bot.get_me()
                markup = InlineKeyboardMarkup([[InlineKeyboardButton("Jā", callback_data="y")]])
                sent = await bot.send_message(
                    chat, "<b>Paldies</b> &amp; uz redzēšanos", parse_mode=ParseMode.HTML,
                    reply_markup=markup, reply_to_message_id=1,
                )  # fmt: skip
                await bot.edit_message_text("Labots", chat_id=chat, message_id=sent.message_id)
                with pytest.raises(BadRequest, match="too long"):
                    await bot.send_message(chat, "x" * 4097)
                with pytest.raises(BadRequest, match="parse entities"):
                    await bot.send_message(chat, "a < b", parse_mode=ParseMode.HTML)
                with pytest.raises(BadRequest, match="replied not found"):
                    await bot.send_message(chat, "x", reply_to_message_id=99)
                api.flood(chat, retry_after=7)
                with pytest.raises(RetryAfter) as flood:
                    await bot.send_message(chat, "x")
                api.block(chat)
                with pytest.raises(Forbidden, match="blocked"):
                    await bot.send_message(chat, "x")
                return me, sent, flood.value

        me, sent, flood = run(scenario())
        assert me.username == "desk0_bot" and sent.message_id == 2
        assert flood._retry_after.total_seconds() == 7  # the parameter Telegram sends
        [message] = api.sent(chat)
        assert message.text == "Labots" and message.edited and message.reply_to == 1
        # An edit without reply_markup takes the inline keyboard away, as Telegram's does.
        assert message.reply_markup is None
        [shown] = [c for c in api.calls_to("sendMessage") if c.status == 200]
        assert shown.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "y"
        assert [c.status for c in api.calls_to("sendMessage")] == [200, 400, 400, 400, 429, 403]


def test_updates_offsets_long_poll_webhook_conflict_and_files():
    with bot_api() as api:
        api.push_message(7, "/start")
        file_id = api.add_file(b"%PDF-1.4 test", "documents/file_1.pdf")

        async def scenario():
            async with bot_for(api) as bot:
                first = await bot.get_updates(timeout=0)
                again = await bot.get_updates(offset=first[-1].update_id, timeout=0)
                after = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
                waited = asyncio.get_running_loop().time()
                empty = await bot.get_updates(offset=first[-1].update_id + 1, timeout=1)
                waited = asyncio.get_running_loop().time() - waited
                await bot.set_webhook("https://desk.example.lv/telegram", secret_token="s3cret")
                with pytest.raises(Conflict, match="webhook is active"):
                    await bot.get_updates(timeout=0)
                await bot.delete_webhook()
                file = await bot.get_file(file_id)
                data = await file.download_as_bytearray()
                return first, again, after, empty, waited, data

        first, again, after, empty, waited, data = run(scenario())
        [update] = first
        entity = update.message.entities[0]
        assert (entity.type, entity.offset, entity.length) == ("bot_command", 0, 6)
        assert [u.update_id for u in again] == [update.update_id]
        assert list(after) == list(empty) == []  # confirmed updates are forgotten
        assert waited >= 0.9  # the long poll held the request
        assert bytes(data) == b"%PDF-1.4 test"
        assert api.calls_to("download")[0].status == 200
