"""A Telegram Bot API stand-in of our own, for tests: a stdlib HTTP server on 127.0.0.1.

It answers the real python-telegram-bot as api.telegram.org would (``{base}/bot{token}/{method}``
with form-encoded or JSON fields, ``{base}/file/bot{token}/{path}`` for downloads) for the
methods Triage Desk uses, checks what Telegram checks (4,096 characters after entity
parsing, HTML with only Telegram's tags, a reply target that exists), and records every call.
Tests steer it: updates pushed as a person's messages, 429 and 403 on demand per chat, a
response lost after the message was delivered.

No test reaches the internet: every bot is pointed at ``api.base_url``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_TEXT = 4096  # characters after entity parsing, counted as Telegram does (UTF-16 units)
# Telegram's HTML: these tags only (core.telegram.org/bots/api#html-style).
ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a"}
    | {"tg-emoji", "code", "pre", "blockquote"}
)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
BLOCKED = "Forbidden: bot was blocked by the user"


class ApiError(Exception):
    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_text(html: str) -> str:
    """The text a chat shows for ``html`` in parse mode HTML, or ApiError 400 as Telegram
    refuses it: an unknown or unclosed tag, a bare ``<``, ``>`` or ``&``."""
    out, stack, pos = [], [], 0
    while pos < len(html):
        char = html[pos]
        if char == "<":
            tag = _TAG.match(html, pos)
            name = tag.group(2).lower() if tag else ""
            if tag is None or name not in ALLOWED_TAGS:
                raise ApiError(
                    400, f"Bad Request: can't parse entities: Unsupported start tag at {pos}"
                )
            if tag.group(1):
                if not stack or stack.pop() != name:
                    raise ApiError(
                        400, f"Bad Request: can't parse entities: Unmatched end tag at {pos}"
                    )
            else:
                stack.append(name)
            pos = tag.end()
        elif char == "&":
            entity = _ENTITY.match(html, pos)
            if entity is None:
                raise ApiError(
                    400, f"Bad Request: can't parse entities: Unescaped '&' at byte offset {pos}"
                )
            out.append(unescape(entity.group()))
            pos = entity.end()
        elif char == ">":
            raise ApiError(
                400, f"Bad Request: can't parse entities: Unescaped '>' at byte offset {pos}"
            )
        else:
            out.append(char)
            pos += 1
    if stack:
        raise ApiError(400, f"Bad Request: can't parse entities: Can't find end tag {stack[-1]}")
    return "".join(out)


@dataclass
class Call:
    token: str
    method: str  # as Telegram matches it: lower case
    params: dict[str, Any]
    status: int = 200


@dataclass
class ChatMessage:
    message_id: int
    from_bot: bool
    text: str
    reply_to: int | None = None
    reply_markup: dict[str, Any] | None = None
    edited: bool = False


@dataclass
class Failure:
    code: int
    description: str
    times: int  # how many calls it answers; -1: every call
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hold:
    """A send held in flight: ``reached`` once the message is in the chat, its answer kept
    back until ``release`` is set (or the stand-in stops)."""

    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class Bot:
    """One bot's state: its chats, pending updates, webhook and files."""

    token: str
    id: int
    username: str
    updates: list[dict[str, Any]] = field(default_factory=list)
    next_update_id: int = 1
    chats: dict[int, list[ChatMessage]] = field(default_factory=dict)
    webhook: dict[str, Any] | None = None
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id → (path, data)
    poll_generation: int = 0

    def next_message_id(self, chat_id: int) -> int:
        # One message id sequence per private chat, shared by both directions, as Telegram's.
        return len(self.chats.setdefault(chat_id, [])) + 1


class BotApiStandIn:
    """Start with ``with BotApiStandIn() as api:``; ``api.base_url`` is the api_base_url."""

    def __init__(self, tokens: tuple[str, ...] = ("123456:TEST-token-of-the-desk-bot",)) -> None:
        self.bots = {token: Bot(token, 1000 + n, f"desk{n}_bot") for n, token in enumerate(tokens)}
        self.calls: list[Call] = []
        self._failures: dict[int, list[Failure]] = {}
        self._lose_response: dict[int, int] = {}
        self._holds: dict[int, Hold] = {}
        self._file_failures: list[Failure] = []
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token(self) -> str:
        return next(iter(self.bots))

    def __enter__(self) -> BotApiStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            for bot in self.bots.values():
                bot.poll_generation += 1  # long polls answer at once
            for hold in self._holds.values():
                hold.release.set()
            self._changed.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # -- what tests steer ------------------------------------------------------------------

    def fail(
        self, chat_id: int, code: int, description: str, times: int = 1, **parameters: Any
    ) -> None:
        """The next ``times`` sends to the chat are refused so (-1: every one)."""
        with self._changed:
            self._failures.setdefault(chat_id, []).append(
                Failure(code, description, times, parameters)
            )

    def flood(self, chat_id: int, retry_after: int, times: int = 1) -> None:
        self.fail(
            chat_id, 429, f"Too Many Requests: retry after {retry_after}", times,
            retry_after=retry_after,
        )  # fmt: skip

    def block(self, chat_id: int) -> None:
        """The person blocked the bot: every send to the chat gets 403 from now on."""
        self.fail(chat_id, 403, BLOCKED, times=-1)

    def lose_response(self, chat_id: int, after: int = 0) -> None:
        """The send to the chat after ``after`` good ones is delivered, but its connection
        closes unanswered (the answer lost on the way back)."""
        with self._changed:
            self._lose_response[chat_id] = after + 1

    def hold(self, chat_id: int) -> Hold:
        """The next send to the chat reaches it, and its answer is held back until
        ``release`` (a process killed meanwhile never learns it was delivered)."""
        with self._changed:
            hold = self._holds[chat_id] = Hold()
        return hold

    def push_update(self, update: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        bot = self.bots[token or self.token]
        with self._changed:
            update = {"update_id": bot.next_update_id, **update}
            bot.next_update_id = update["update_id"] + 1
            bot.updates.append(update)
            self._changed.notify_all()
        return update

    def push_message(
        self,
        chat_id: int,
        text: str,
        *,
        first_name: str = "Ilze",
        language_code: str | None = "lv",
        token: str | None = None,
        date: int | None = None,
    ) -> dict[str, Any]:
        """A person writes to the bot in a private chat; a leading ``/word`` is a command,
        marked as Telegram marks it (a ``bot_command`` entity at offset 0)."""
        bot = self.bots[token or self.token]
        with self._changed:
            message_id = bot.next_message_id(chat_id)
            bot.chats[chat_id].append(ChatMessage(message_id, False, text))
        user = {"id": chat_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": user,
            "chat": {"id": chat_id, "type": "private", "first_name": first_name},
            "date": date if date is not None else int(time.time()),
            "text": text,
        }
        command = re.match(r"/[A-Za-z0-9_]+(?:@\w+)?", text)
        if command:
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}
            ]
        return self.push_update({"message": message}, token)

    def push_callback(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        *,
        from_id: int | None = None,
        first_name: str = "Ilze",
        token: str | None = None,
    ) -> dict[str, Any]:
        """A button of the bot's message ``message_id`` in the chat is pressed (by the chat's
        person, or in a group by ``from_id``), as Telegram sends it: a ``callback_query``."""
        bot = self.bots[token or self.token]
        with self._changed:
            shown = [m for m in bot.chats.get(chat_id, []) if m.message_id == message_id]
        message = self._message_json(bot, chat_id, shown[0]) if shown else {
            "message_id": message_id, "chat": {"id": chat_id, "type": "private"}, "date": 0,
        }  # fmt: skip
        self._query_ids = getattr(self, "_query_ids", 0) + 1
        query = {
            "id": f"{4000000000 + self._query_ids}",
            "from": {"id": from_id or chat_id, "is_bot": False, "first_name": first_name},
            "message": message,
            "chat_instance": f"-{abs(chat_id)}",
            "data": data,
        }
        return self.push_update({"callback_query": query}, token)

    def push_group_message(
        self,
        chat_id: int,
        from_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        first_name: str = "Jānis",
        token: str | None = None,
    ) -> dict[str, Any]:
        """A member writes in a group the bot is in (``reply_to``: answering that message)."""
        bot = self.bots[token or self.token]
        with self._changed:
            message_id = bot.next_message_id(chat_id)
            bot.chats[chat_id].append(ChatMessage(message_id, False, text, reply_to))
            target = [m for m in bot.chats[chat_id] if m.message_id == reply_to]
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": {"id": from_id, "is_bot": False, "first_name": first_name},
            "chat": {"id": chat_id, "type": "supergroup", "title": "Staff"},
            "date": int(time.time()),
            "text": text,
        }
        if target:
            message["reply_to_message"] = self._message_json(bot, chat_id, target[0])
            if not target[0].from_bot:
                message["reply_to_message"]["from"] = {"id": 1, "is_bot": False, "first_name": "X"}
        return self.push_update({"message": message}, token)

    def add_file(self, data: bytes, path: str = "documents/file_0.pdf", token: str | None = None):
        bot = self.bots[token or self.token]
        file_id = f"FILE{len(bot.files) + 1}"
        bot.files[file_id] = (path, data)
        return file_id

    def push_file(
        self,
        chat_id: int,
        data: bytes,
        *,
        kind: str = "document",
        file_name: str = "scan.pdf",
        mime_type: str = "application/pdf",
        caption: str | None = None,
        declared_size: int | None = -1,
        language_code: str | None = "lv",
        token: str | None = None,
    ) -> dict[str, Any]:
        """A person sends a file (``kind``: document, photo or voice) in a private chat, as
        Telegram sends it: the file's id and declared size (-1: the real size; None: none)."""
        bot = self.bots[token or self.token]
        folder = {"document": "documents", "photo": "photos", "voice": "voice"}[kind]
        file_id = self.add_file(data, f"{folder}/file_{len(bot.files)}", token)
        size = len(data) if declared_size == -1 else declared_size
        described: dict[str, Any] = {"file_id": file_id, "file_unique_id": f"U{file_id}"}
        if size is not None:
            described["file_size"] = size
        with self._changed:
            message_id = bot.next_message_id(chat_id)
            bot.chats[chat_id].append(ChatMessage(message_id, False, caption or ""))
        user = {"id": chat_id, "is_bot": False, "first_name": "Ilze"}
        if language_code:
            user["language_code"] = language_code
        message: dict[str, Any] = {
            "message_id": message_id, "from": user, "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Ilze"},
        }  # fmt: skip
        if kind == "photo":  # two sizes, as Telegram sends: a thumbnail and the photo
            thumb = self.add_file(data[:100], f"photos/thumb_{len(bot.files)}", token)
            small = {"file_id": thumb, "file_unique_id": f"U{thumb}", "width": 90, "height": 60}
            message["photo"] = [small, {**described, "width": 1280, "height": 853}]
        elif kind == "voice":
            message["voice"] = {**described, "duration": 3, "mime_type": mime_type}
        else:
            message["document"] = {**described, "file_name": file_name, "mime_type": mime_type}
        if caption is not None:
            message["caption"] = caption
        return self.push_update({"message": message}, token)

    def push_edit(
        self, message: dict[str, Any], text: str, edit_date: int, token: str | None = None
    ) -> dict[str, Any]:
        """The person edits their ``message`` (as pushed) to ``text`` at ``edit_date``."""
        edited = {**message, "text": text, "edit_date": edit_date}
        edited.pop("entities", None)
        command = re.match(r"/[A-Za-z0-9_]+(?:@\w+)?", text)
        if command:
            edited["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}
            ]
        return self.push_update({"edited_message": edited}, token)

    def fail_files(self, code: int, description: str, times: int = 1) -> None:
        """The next ``times`` getFile calls are refused so (-1: every one)."""
        with self._changed:
            self._file_failures.append(Failure(code, description, times))

    def chat(self, chat_id: int, token: str | None = None) -> list[ChatMessage]:
        """What the chat shows: the person's messages and the bot's, in order."""
        with self._changed:
            return list(self.bots[token or self.token].chats.get(chat_id, []))

    def sent(self, chat_id: int, token: str | None = None) -> list[ChatMessage]:
        return [m for m in self.chat(chat_id, token) if m.from_bot]

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in list(self.calls) if c.method == method.lower()]

    # -- the HTTP side ---------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet: pytest shows failures
                pass

            def do_GET(self) -> None:
                api._serve(self)

            def do_POST(self) -> None:
                api._serve(self)

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        path = unquote(url.path)  # httpx quotes the token's colon in a file URL
        file_match = re.fullmatch(r"/file/bot([^/]+)/(.+)", path)
        if file_match:
            self._download(handler, *file_match.groups())
            return
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", path)
        if match is None or match.group(1) not in self.bots:
            self._reply(handler, 404 if match is None else 401, None, "Not Found")
            return
        token, method = match.group(1), match.group(2).lower()
        params = self._params(handler, url.query, body)
        call = Call(token, method, params)
        self.calls.append(call)
        try:
            result = self._call(self.bots[token], method, params)
        except ApiError as error:
            call.status = error.code
            self._reply(handler, error.code, None, error.description, error.parameters)
            return
        except _Lost:
            handler.close_connection = True  # delivered, but the caller never hears of it
            return
        self._reply(handler, 200, result)

    @staticmethod
    def _params(handler: BaseHTTPRequestHandler, query: str, body: bytes) -> dict[str, Any]:
        """Fields from the query, a form or a JSON body; JSON-valued fields (reply_markup,
        reply_parameters) are decoded as Telegram decodes them."""
        fields: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query).items()}
        kind = handler.headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            fields.update(json.loads(body or b"{}"))
        elif body:
            fields.update({k: v[-1] for k, v in parse_qs(body.decode()).items()})
        for key in ("reply_markup", "reply_parameters", "allowed_updates", "entities"):
            if isinstance(fields.get(key), str):
                fields[key] = json.loads(fields[key])
        return fields

    def _reply(
        self,
        handler: BaseHTTPRequestHandler,
        code: int,
        result: Any,
        description: str = "",
        parameters: dict[str, Any] | None = None,
    ) -> None:
        if code == 200:
            payload: dict[str, Any] = {"ok": True, "result": result}
        else:
            payload = {"ok": False, "error_code": code, "description": description}
            if parameters:
                payload["parameters"] = parameters
        data = json.dumps(payload).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _download(self, handler: BaseHTTPRequestHandler, token: str, path: str) -> None:
        bot = self.bots.get(token)
        found = [data for p, data in (bot.files.values() if bot else ()) if p == path]
        self.calls.append(Call(token, "download", {"path": path}, 200 if found else 404))
        handler.send_response(200 if found else 404)
        data = found[0] if found else b"Not Found"
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    # -- the methods -----------------------------------------------------------------------

    def _call(self, bot: Bot, method: str, params: dict[str, Any]) -> Any:
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        return handler(bot, params)

    def _m_getme(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        return {"id": bot.id, "is_bot": True, "first_name": "Desk", "username": bot.username}

    def _m_getupdates(self, bot: Bot, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100))
        deadline = time.monotonic() + float(params.get("timeout", 0))
        with self._changed:
            if bot.webhook is not None:
                raise ApiError(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use "
                    "deleteWebhook to delete the webhook first",
                )
            if offset:  # confirms every update before it: Telegram forgets them
                bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
            bot.poll_generation += 1
            mine = bot.poll_generation
            while True:
                if bot.poll_generation != mine:
                    raise ApiError(
                        409, "Conflict: terminated by other getUpdates request; make sure that "
                        "only one bot instance is running",
                    )  # fmt: skip
                ready = [u for u in bot.updates if u["update_id"] >= offset][:limit]
                left = deadline - time.monotonic()
                if ready or left <= 0:
                    return ready
                self._changed.wait(left)

    def _m_setwebhook(self, bot: Bot, params: dict[str, Any]) -> bool:
        if not str(params.get("url", "")).startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        with self._changed:
            bot.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
            bot.poll_generation += 1
            self._changed.notify_all()
        return True

    def _m_deletewebhook(self, bot: Bot, params: dict[str, Any]) -> bool:
        with self._changed:
            bot.webhook = None
            if str(params.get("drop_pending_updates", "")).lower() == "true":
                bot.updates.clear()
        return True

    def _failure(self, chat_id: int) -> None:
        """A failure the test asked for, used up as it answers."""
        for failure in self._failures.get(chat_id, []):
            if failure.times == 0:
                continue
            failure.times -= failure.times > 0
            raise ApiError(failure.code, failure.description, **failure.parameters)

    def _m_sendmessage(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        with self._changed:
            self._failure(chat_id)
            text = str(params.get("text", ""))
            if str(params.get("parse_mode", "")).upper() == "HTML":
                text = visible_text(text)
            if not text.strip():
                raise ApiError(400, "Bad Request: message text is empty")
            if utf16_len(text) > MAX_TEXT:
                raise ApiError(400, "Bad Request: message is too long")
            reply_to = self._reply_target(bot, chat_id, params)
            _check_buttons(params.get("reply_markup"))
            message = ChatMessage(
                bot.next_message_id(chat_id), True, text, reply_to, params.get("reply_markup")
            )
            bot.chats[chat_id].append(message)
            if self._lose_response.get(chat_id, 0) > 0:
                self._lose_response[chat_id] -= 1
                if self._lose_response[chat_id] == 0:
                    raise _Lost
            hold = self._holds.get(chat_id)
            if hold is not None and hold.reached.is_set():
                hold = None  # used up: one send is held
            elif hold is not None:
                hold.reached.set()
        if hold is not None:  # waited out of the lock: the rest of the stand-in goes on
            hold.release.wait()
            raise _Lost
        return self._message_json(bot, chat_id, message)

    @staticmethod
    def _reply_target(bot: Bot, chat_id: int, params: dict[str, Any]) -> int | None:
        reply = params.get("reply_parameters") or {}
        target = reply.get("message_id") or params.get("reply_to_message_id")
        if target is None:
            return None
        known = {m.message_id for m in bot.chats.get(chat_id, [])}
        allow = reply.get("allow_sending_without_reply") or params.get(
            "allow_sending_without_reply"
        )
        if int(target) not in known:
            if str(allow).lower() != "true":
                raise ApiError(400, "Bad Request: message to be replied not found")
            return None
        return int(target)

    def _m_editmessagetext(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        with self._changed:
            found = [m for m in bot.chats.get(chat_id, []) if m.message_id == message_id]
            if not found or not found[0].from_bot:
                raise ApiError(400, "Bad Request: message to edit not found")
            text = str(params.get("text", ""))
            if str(params.get("parse_mode", "")).upper() == "HTML":
                text = visible_text(text)
            if found[0].text == text:
                raise ApiError(400, "Bad Request: message is not modified")
            found[0].text, found[0].edited = text, True
            # Without reply_markup an edit takes the inline keyboard away, as Telegram's does.
            found[0].reply_markup = params.get("reply_markup")
        return self._message_json(bot, chat_id, found[0])

    def _m_answercallbackquery(self, bot: Bot, params: dict[str, Any]) -> bool:
        if "callback_query_id" not in params:
            raise ApiError(400, "Bad Request: query is too old or query ID is invalid")
        if len(str(params.get("text", ""))) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _m_getfile(self, bot: Bot, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params.get("file_id", ""))
        with self._changed:
            for failure in self._file_failures:
                if failure.times != 0:
                    failure.times -= failure.times > 0
                    raise ApiError(failure.code, failure.description)
        if file_id not in bot.files:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, data = bot.files[file_id]
        if len(data) > 20 * 1024 * 1024:  # the Bot API serves files up to 20 MB
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id, "file_unique_id": f"U{file_id}", "file_size": len(data),
            "file_path": path,
        }  # fmt: skip

    def _message_json(self, bot: Bot, chat_id: int, message: ChatMessage) -> dict[str, Any]:
        result: dict[str, Any] = {
            "message_id": message.message_id,
            "from": {"id": bot.id, "is_bot": True, "first_name": "Desk", "username": bot.username},
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "date": int(time.time()),
            "text": message.text,
        }
        # A message carries only an inline keyboard; a ForceReply is never shown back.
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            result["reply_markup"] = message.reply_markup
        return result


def _check_buttons(markup: Any) -> None:
    """Telegram's limit on what a button carries: 1 to 64 bytes of callback_data."""
    for row in (markup or {}).get("inline_keyboard", []) if isinstance(markup, dict) else []:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


class _Lost(Exception):
    """The response to a delivered message is lost on the way back."""


@contextmanager
def bot_api(
    tokens: tuple[str, ...] = ("123456:TEST-token-of-the-desk-bot",),
) -> Iterator[BotApiStandIn]:
    with BotApiStandIn(tokens) as api:
        yield api
