"""What counts as an email address we can write to: ``local@domain.tld``.

Used where an address is a promise that mail can reach it (a representative in the
configuration, the sender an acknowledgement goes to), not to read headers (``intake.email.headers``
reads whatever a mail says).
"""

from __future__ import annotations

import re

# A dot-atom or quoted local part; a domain of at least two labels (IDN letters allowed).
_ADDRESS = re.compile(
    r'(?:[\w!#$%&\'*+/=?^`{|}~-]+(?:\.[\w!#$%&\'*+/=?^`{|}~-]+)*|"[^"\\\r\n]+")'
    r"@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W_](?:[\w-]*[^\W_])?"
)


def is_email_address(value: str) -> bool:
    """``ilze@novads.lv`` yes; ``nobody``, ``_info@firma.lv?=``, ``a@b`` or ``a b@c.lv`` no."""
    return len(value) <= 320 and _ADDRESS.fullmatch(value) is not None
