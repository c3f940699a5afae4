"""bench/hostile.py's mail builders: each case is a valid RFC 5322 message of the size the
issue names (no service needed: the bench itself runs against `make run`)."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

import pytest

from bench.hostile import CASES, MIB, RFC5322_LONGEST_LINE, build_case, build_normal

DESK = "atbalsts@example.lv"
# Each mail's intended size at scale 1, from issue 16 item 1.
SIZES = {"plain": 24 * MIB, "base64": 20 * MIB, "quotes": 6 * MIB, "batch": 4 * MIB}


def check_rfc5322(raw: bytes) -> None:
    """Lines end in CRLF and stay within 998 characters, 7-bit only, the required headers
    once each, and the stdlib parser finds no defect in any part."""
    assert raw.endswith(b"\r\n")
    assert b"\r" not in raw.replace(b"\r\n", b"") and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= RFC5322_LONGEST_LINE
    assert max(raw) < 128
    message = BytesParser(policy=policy.default).parsebytes(raw)
    for name in ("From", "Date", "Message-ID", "To", "Subject"):
        assert len(message.get_all(name) or []) == 1, name
    assert message["Date"].datetime is not None
    assert "@" in message["From"].addresses[0].addr_spec
    for part in message.walk():
        assert not part.defects, part.defects
    content = message.get_content()
    assert isinstance(content, str) and content


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_is_a_valid_message(name):
    for mail in build_case(name, 0.02, "t1", DESK):
        check_rfc5322(mail.raw)
        assert mail.recipient == DESK
        assert f"<{mail.message_id}>".encode() in mail.raw
        assert f"<{mail.sender}>".encode() in mail.raw


@pytest.mark.parametrize("name", sorted(SIZES))
def test_each_case_has_the_size_of_the_issue(name):
    mails = build_case(name, 1.0, "t2", DESK)
    assert len(mails) == CASES[name].count
    for mail in mails:
        # The whole message, headers included, within one line of the size.
        assert SIZES[name] - RFC5322_LONGEST_LINE - 2 <= len(mail.raw) <= SIZES[name]


def test_the_blockquote_case_nests_ten_thousand_levels_in_about_140_kb():
    (mail,) = build_case("blockquote", 1.0, "t3", DESK)
    assert mail.raw.count(b"<blockquote>") == 10_000
    assert b"</blockquote>" not in mail.raw
    assert 140_000 <= len(mail.raw) <= 160_000
    check_rfc5322(mail.raw)


def test_the_scale_shrinks_the_sizes_and_the_depth():
    (plain,) = build_case("plain", 0.05, "t4", DESK)
    assert abs(len(plain.raw) - 0.05 * 24 * MIB) <= 100
    (html,) = build_case("blockquote", 0.05, "t4", DESK)
    assert html.raw.count(b"<blockquote>") == 500


def test_the_nested_quotes_go_deep():
    (mail,) = build_case("quotes", 0.1, "t5", DESK)
    depths = [len(m.group(1)) // 2 for m in re.finditer(rb"(?m)^((?:> )+)", mail.raw)]
    assert max(depths) >= 400
    check_rfc5322(mail.raw)


def test_the_base64_case_decodes_to_invalid_utf8():
    (mail,) = build_case("base64", 0.01, "t6", DESK)
    part = BytesParser(policy=policy.default).parsebytes(mail.raw)
    decoded = part.get_payload(decode=True)
    assert len(decoded) >= 0.7 * 0.01 * 20 * MIB
    with pytest.raises(UnicodeDecodeError):
        decoded.decode("utf-8")


def test_every_mail_of_a_run_is_its_own():
    """Distinct senders, ids and contents: no reply limit, no deduplication joins them."""
    mails = [m for name in CASES for m in build_case(name, 0.01, "t7", DESK)]
    mails.append(build_normal("t7", "normal", DESK))
    assert len({m.sender for m in mails}) == len(mails)
    assert len({m.message_id for m in mails}) == len(mails)
    bodies = [m.raw.split(b"\r\n\r\n", 1)[1] for m in build_case("batch", 0.01, "t7", DESK)]
    assert len(set(bodies)) == len(bodies)


def test_the_normal_mail_is_an_ordinary_request():
    mail = build_normal("t8", "normal", DESK)
    check_rfc5322(mail.raw)
    message = BytesParser(policy=policy.default).parsebytes(mail.raw)
    assert "nestrādā" in message.get_content()
    assert message["To"] == DESK


def test_a_reason_from_the_service_is_printed_without_control_characters():
    """Some reasons quote a mail's header (a robot's): the bench shows them tamed."""
    from bench.hostile import _safe

    shown = _safe("auto-reply subject: \x1b]0;owned\x07\x1b[2J" + "x" * 200)
    assert not any(ord(c) < 32 or ord(c) == 127 for c in shown)
    assert len(shown) <= 60
    assert shown.startswith("auto-reply subject: ?]0;owned??[2J")
