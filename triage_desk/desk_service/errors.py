"""What the desk service refuses, as types a front end can tell apart.

Messages say what is wrong in plain words and never how to type the fix (a command line
says ``--reason``, a web console highlights a field): ``code`` and the fields below let each
front end add its own advice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class DeskError(Exception):
    """Base of every refusal of the desk service; ``code`` names the case for front ends,
    ``params`` the values a front end's own wording of it may show (the console translates
    ``code`` with them; the command line prints ``message``, in English)."""

    code = "desk_error"

    def __init__(
        self, message: str, code: str | None = None, params: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.params: dict[str, object] = dict(params or {})
        if code is not None:
            self.code = code


class NotFound(DeskError):
    """No such ticket, outbox item, quarantined mail or address."""

    code = "not_found"

    def __init__(self, kind: str, key: object, message: str | None = None) -> None:
        super().__init__(message or f"no {kind} {key!r}", params={"kind": kind, "key": key})
        self.kind = kind
        self.key = key


class InvalidInput(DeskError):
    """A value the action cannot take; names the field and, where there is a list, the
    values it can take."""

    code = "invalid_input"

    def __init__(
        self,
        field: str,
        message: str,
        value: object = None,
        valid: Iterable[str] | None = None,
    ) -> None:
        self.valid: tuple[str, ...] | None = None if valid is None else tuple(sorted(valid))
        if self.valid is not None:
            message = f"{message}; use one of {list(self.valid)}"
        super().__init__(
            message, params={"field": field, "value": value, "valid": ", ".join(self.valid or ())}
        )
        self.field = field
        self.value = value


class Conflict(DeskError):
    """The action does not fit the current state (already resolved, not a dead letter)."""

    code = "conflict"


class NotAllowed(DeskError):
    """The action is refused here (an address that bounces, no address to write to, no
    intake machinery to release quarantined mail with)."""

    code = "not_allowed"


__all__ = ["Conflict", "DeskError", "InvalidInput", "NotAllowed", "NotFound"]
