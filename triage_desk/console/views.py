"""Presentation helpers: times in the desk's zone, time-left badges, HTML mail made inert."""

from __future__ import annotations

import datetime as dt

import nh3

from triage_desk.console.i18n import translate


def local(instant: dt.datetime | None, zone: dt.tzinfo | None = None) -> str:
    """``2026-11-30 13:00`` in ``zone`` (the instant's own zone when None)."""
    if instant is None:
        return "-"
    shown = instant.astimezone(zone) if zone is not None else instant
    return shown.strftime("%Y-%m-%d %H:%M")


def span(delta: dt.timedelta) -> str:
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def badge(
    due: dt.datetime | None, answered: dt.datetime | None, now: dt.datetime, language: str
) -> tuple[str, str]:
    """(css class, text) of a response-due badge: time left, late, or answered."""
    if answered is not None:
        return "done", translate(language, "answered_at")
    if due is None:
        return "none", "-"
    if due < now:
        return "late", f"{translate(language, 'late')} {span(now - due)}"
    return "left", f"{span(due - now)} {translate(language, 'left')}"


def safe_mail_html(html: str) -> str:
    """A mail's HTML with every script, handler, style, form and remote resource removed
    (ammonia's allow-list, via nh3), inside a document of its own; it is further shown
    only in a sandboxed frame with a CSP that loads nothing."""
    cleaned = nh3.clean(
        html,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        tags=nh3.ALLOWED_TAGS - {"img"},  # no remote images: no tracking pixels
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta name="referrer" content="no-referrer"></head><body>'
        f"{cleaned}</body></html>"
    )


__all__ = ["badge", "local", "safe_mail_html", "span"]
