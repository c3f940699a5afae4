"""A desk-service refusal in the staff member's language: its ``code`` (and, for a bad
value, its field) looked up in ``i18n`` and filled in with its parameters; the service's
English message only where no translation exists yet."""

from __future__ import annotations

from triage_desk.console.i18n import TEXTS, translate
from triage_desk.desk_service import DeskError


class _Params(dict[str, str]):
    def __missing__(self, key: str) -> str:  # a text naming a value the error lacks
        return "?"


def refusal_text(language: str, refused: DeskError) -> str:
    params = _Params({k: str(v) for k, v in refused.params.items() if v is not None})
    kind = params.get("kind")
    if kind and f"kind.{kind}" in TEXTS:
        params["kind"] = translate(language, f"kind.{kind}")
    field = params.get("field")
    keys = [f"err.{refused.code}.{field}"] if field else []
    for key in [*keys, f"err.{refused.code}"]:
        if key in TEXTS:
            return translate(language, key).format_map(params)
    return refused.message


__all__ = ["refusal_text"]
