"""Signed tokens of the public form, one HMAC-SHA256 key (``storage.web_form``), a purpose
in each signature so a token made for one use is worthless for another:

- the form token: a fetched form's random id and the time it was made; a POST needs one
  not older than ``token_minutes`` (only a fetched form can post), and the id is the
  submission's id, so the same form posted twice is one message (deduplication);
- the status link: a ticket id, or before the ticket exists, the submission's id.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

FORM, TICKET, SUBMISSION = "form", "ticket", "submission"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def _mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self.key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()
        return _b64(digest[:24])

    def sign(self, purpose: str, value: str) -> str:
        return f"{_b64(value.encode())}.{self._mac(purpose, value)}"

    def verify(self, purpose: str, token: str) -> str | None:
        """The value signed for ``purpose``, or None for anything altered or made up."""
        if len(token) > 600 or token.count(".") != 1:
            return None
        encoded, mac = token.split(".")
        try:
            value = _unb64(encoded).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(purpose, value).encode()):
            return None
        return value

    # The form token: "<desk>|<submission id>|<unix seconds>".

    def form_token(self, desk: str, now: dt.datetime) -> str:
        return self.sign(FORM, f"{desk}|{secrets.token_hex(16)}|{int(now.timestamp())}")

    def form_submission(
        self, token: str, desk: str, now: dt.datetime, lifetime: dt.timedelta
    ) -> str | None:
        """The submission id of a valid, unexpired form token of ``desk``."""
        value = self.verify(FORM, token)
        if value is None or value.count("|") != 2:
            return None
        made_for, submission, issued = value.split("|")
        if made_for != desk or not issued.isdigit():
            return None
        made = dt.datetime.fromtimestamp(int(issued), dt.UTC)
        if not made - dt.timedelta(minutes=1) <= now <= made + lifetime:
            return None
        return submission
