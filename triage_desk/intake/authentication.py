"""Evidence that a mail comes from whom its From header says: Authentication-Results.

A From header is typed by the sender and proves nothing. Our own mail server checks DKIM and
SPF and writes what it found in an ``Authentication-Results`` header (RFC 8601) under its
authserv-id; only headers with an authserv-id the deployment trusts are read (the server
removes ones that arrive from outside with its id, RFC 8601 section 5). Parsing is
``authres``, the reference parser of the format (also used by dkimpy and OpenDMARC's tools).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable

import authres

log = logging.getLogger(__name__)
_MAX_HEADERS = 20  # more than any real path adds; a mail listing hundreds gets no more read


def authenticated_domains(
    values: Iterable[str], trusted_authserv_ids: Collection[str]
) -> frozenset[str]:
    """The domains trusted servers authenticated: of each DKIM signature (header.d,
    header.i) and SPF check (smtp.mailfrom) that passed."""
    found: set[str] = set()
    if not trusted_authserv_ids:
        return frozenset()
    for count, value in enumerate(values):
        if count >= _MAX_HEADERS:
            break
        try:
            header = authres.AuthenticationResultsHeader.parse_value(" ".join(value.split()))
        except Exception as exc:  # a malformed header is no evidence, never an error
            log.debug("unreadable Authentication-Results header: %s", exc)
            continue
        if (header.authserv_id or "").lower() not in trusted_authserv_ids:
            continue
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
                    found.add(identity.rsplit("@", 1)[-1])
    return frozenset(found)


def proves_address(domains: Collection[str], address: str) -> bool:
    """Whether an authenticated domain vouches for ``address``: its own domain or a parent
    of it (DMARC's relaxed alignment)."""
    if "@" not in address:
        return False
    domain = address.rsplit("@", 1)[1].lower()
    return any(domain == d or domain.endswith("." + d) for d in domains)
