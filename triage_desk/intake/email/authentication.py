"""Evidence that a mail comes from whom its From header says: Authentication-Results.

A From header is typed by the sender and proves nothing. Our own mail server checks DKIM and
SPF and writes what it found in an ``Authentication-Results`` header (RFC 8601) under its
authserv-id. The parser turns every pass into a ``Vouch`` (authserv-id, domain) on the
inbound message; the core believes only those of authserv-ids the deployment trusts (the
server removes ones that arrive from outside with its id, RFC 8601 section 5). Parsing is
``authres``, the reference parser of the format (also used by dkimpy and OpenDMARC's tools).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

import authres

from triage_desk.intake.message import Vouch
from triage_desk.intake.reply_policy import proves_address

log = logging.getLogger(__name__)
_MAX_HEADERS = 20  # more than any real path adds; a mail listing hundreds gets no more read
__all__ = ["authenticated_domains", "proves_address", "vouches"]


def vouches(values: Iterable[str]) -> tuple[Vouch, ...]:
    """The domains each server authenticated: of each DKIM signature (header.d, header.i)
    and SPF check (smtp.mailfrom) that passed, with the server's authserv-id."""
    found: dict[Vouch, None] = {}
    for count, value in enumerate(values):
        if count >= _MAX_HEADERS:
            break
        try:
            header = authres.AuthenticationResultsHeader.parse_value(" ".join(value.split()))
        except Exception as exc:  # a malformed header is no evidence, never an error
            log.debug("unreadable Authentication-Results header: %s", exc)
            continue
        authority = (header.authserv_id or "").lower()
        for result in header.results:
            if str(result.result).lower() != "pass":
                continue
            method = str(result.method).lower()
            for prop in result.properties:
                key = f"{prop.type}.{prop.name}".lower()
                identity = str(prop.value or "").strip().strip("<>").lower()
                if not identity:
                    continue
                if (method == "dkim" and key in ("header.d", "header.i")) or (
                    method == "spf" and key == "smtp.mailfrom"
                ):
                    found.setdefault(Vouch(authority, identity.rsplit("@", 1)[-1]))
    return tuple(found)


def authenticated_domains(
    values: Iterable[str], trusted_authserv_ids: Collection[str]
) -> frozenset[str]:
    """The domains trusted servers authenticated."""
    if not trusted_authserv_ids:
        return frozenset()
    return frozenset(v.identity for v in vouches(values) if v.authority in trusted_authserv_ids)
