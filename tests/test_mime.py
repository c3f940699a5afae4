"""MIME normalisation: charsets, HTML, alternatives, attachments, limits, forwarded mail.

Fixture mails written for these tests are in tests/mail/ (raw bytes as mail clients send them).
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import Ticks, make_mail
from triage_desk.config import EmailConfig
from triage_desk.intake.email.charsets import decode_bytes, decode_encoded_words
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.errors import Deadline, LimitExceeded, MailRejected, Unparseable

MAIL = Path(__file__).parent / "mail"
LV = "Labdien! Atskaišu modulis nestrādā, cita ceļa nav. Ģirts Šķēle, čūska, ļoti žēl."
RU = "Здравствуйте! Не работает модуль отчётов, прошу помочь. Спасибо."


def parse(raw: bytes, **kwargs):
    return inbound_from_email(raw, "municipal", **kwargs)


def fixture(name: str):
    return parse((MAIL / name).read_bytes())


def raw_mail(headers: str, body: bytes) -> bytes:
    return headers.strip().replace("\n", "\r\n").encode("ascii") + b"\r\n\r\n" + body


# --- charsets ---------------------------------------------------------------------------


def test_raw_8bit_windows_1257_without_any_charset_is_read_not_turned_into_question_marks():
    inbound = fixture("cp1257-8bit-no-charset.eml")
    assert inbound.subject == "Atskaišu modulis nestrādā"
    assert inbound.sender_name == "Jānis Bērziņš"
    assert "Atskaišu modulī poga" in inbound.text and "Ķekavas novada pašvaldība" in inbound.text
    assert "\ufffd" not in inbound.text + inbound.subject and "?" not in inbound.subject


def test_koi8_r_body_and_encoded_words():
    inbound = fixture("koi8r.eml")
    assert inbound.sender_name == "Иван Петров"
    assert inbound.subject == "Не работает отчёт"
    assert "Не работает модуль отчётов" in inbound.text


def test_iso_8859_13_quoted_printable_and_raw_8bit_display_name():
    inbound = fixture("iso-8859-13-qp.eml")
    assert inbound.subject == "Rēķins par novembri"
    assert inbound.sender_name == "Līga Ozola"
    assert "Lūdzu, nosūtiet rēķinu" in inbound.text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (LV, "utf-8"),
        (LV, "windows-1257"),
        (LV, "iso-8859-13"),
        (RU, "utf-8"),
        (RU, "windows-1251"),
        (RU, "koi8-r"),
    ],
)
def test_undeclared_charsets_decode_cleanly(text, encoding):
    assert decode_bytes(text.encode(encoding), None) == text


@pytest.mark.parametrize(
    ("declared", "data", "expected"),
    [
        ("utf-8", LV.encode("windows-1257"), LV),  # says UTF-8, is Baltic
        ("iso-8859-1", LV.encode("utf-8"), LV),  # says Latin-1, is UTF-8
        ("us-ascii", RU.encode("windows-1251"), RU),  # 8-bit under an ASCII label
        ("x-unknown-charset", LV.encode("windows-1257"), LV),  # a label Python does not know
        ("unknown-8bit", RU.encode("koi8-r"), RU),
        ("gb2312", "转发：整体提升企业服务水平".encode("gb2312"), "转发：整体提升企业服务水平"),
    ],
)
def test_mislabelled_and_unknown_charsets_fall_back_without_replacement_characters(
    declared, data, expected
):
    assert decode_bytes(data, declared) == expected


def test_iso_2022_jp_with_microsoft_extensions_decodes():
    data = b"\x1b$B-!#1ET#38)\x1b(B"  # "①１都３県" as Outlook writes ISO-2022-JP
    assert decode_bytes(data, "ISO-2022-JP") == "①１都３県"


def test_encoded_words_split_across_a_multibyte_character_and_unknown_charsets():
    assert decode_encoded_words("=?utf-8?q?J=C4?= =?utf-8?q?=81nis?=") == "Jānis"
    assert decode_encoded_words("=?x-nonsense?q?J=E2nis?=") == "Jānis"


def test_raw_8bit_headers_in_a_utf8_body_mail():
    raw = (
        "From: Иван <ivan@example.ru>\r\nTo: atbalsts@example.lv\r\nSubject: Отчёт\r\n\r\nТекст\r\n"
    ).encode("windows-1251")
    inbound = parse(raw)
    assert (inbound.sender_name, inbound.subject, inbound.text) == ("Иван", "Отчёт", "Текст")


def test_nothing_stored_contains_surrogates_or_replacement_characters():
    inbound = fixture("cp1257-8bit-no-charset.eml")
    for value in [inbound.text, inbound.new_text, inbound.subject, *inbound.headers.values()]:
        value.encode("utf-8")  # raises on a lone surrogate
        assert "\ufffd" not in value


# --- structure --------------------------------------------------------------------------


def _alternative(plain: str, html: str) -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@example.lv", "atbalsts@example.lv", "x"
    mail.set_content(plain)
    mail.add_alternative(html, subtype="html")
    return mail.as_bytes()


def test_multipart_alternative_prefers_text_plain():
    inbound = parse(_alternative("Plain words.\n", "<p>HTML <b>words</b>.</p>"))
    assert inbound.text == "Plain words."


def test_a_blank_plain_alternative_falls_back_to_the_html():
    inbound = parse(_alternative("\n", "<p>Only the <b>HTML</b> says it.</p>"))
    assert inbound.text == "Only the HTML says it."


def test_several_text_parts_are_concatenated():
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@example.lv", "atbalsts@example.lv", "x"
    mail.set_content("First part.")
    mail.add_attachment("Second part.", disposition="inline")
    mail.add_attachment("<p>Third <i>part</i>.</p>", subtype="html", disposition="inline")
    inbound = parse(mail.as_bytes())
    assert inbound.text == "First part.\n\nSecond part.\n\nThird part."


def test_html_only_mail_becomes_readable_text_with_links_and_inline_image():
    inbound = fixture("html-only-inline-image.eml")
    assert "see the report <https://portal.example.lv/reports?id=7>:" in inbound.text
    assert "- Browser: Firefox" in inbound.text and "[image: error screenshot]" in inbound.text
    assert "alert(1)" not in inbound.text and "color: red" not in inbound.text
    (image,) = inbound.attachments
    assert (image.filename, image.content_type, image.inline, image.content_id) == (
        "image.png",
        "image/png",
        True,
        "shot1@example.com",
    )
    assert image.data.startswith(b"\x89PNG") and image.size == len(image.data)


def test_attachment_names_rfc2231_and_encoded_words_with_type_size_and_bytes():
    inbound = fixture("attachment-names.eml")
    pdf, docx = inbound.attachments
    assert (pdf.filename, pdf.content_type, pdf.data) == (
        "Līgums Nr. 7.pdf",
        "application/pdf",
        b"%PDF-1.4\n%%EOF\n",
    )
    assert pdf.size == len(pdf.data) and not pdf.inline and pdf.dropped_reason is None
    assert docx.filename == "Čeks saraksts.docx"
    assert docx.content_type.endswith("wordprocessingml.document")


def test_an_attachment_over_the_size_limit_keeps_its_metadata_but_not_its_bytes():
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@example.lv", "atbalsts@example.lv", "x"
    mail.set_content("See attached.")
    mail.add_attachment(b"x" * 5000, maintype="application", subtype="zip", filename="big.zip")
    mail.add_attachment(b"y" * 10, maintype="application", subtype="zip", filename="small.zip")
    inbound = parse(mail.as_bytes(), rules=EmailConfig(max_attachment_bytes=1000))
    big, small = inbound.attachments
    assert (big.filename, big.size, big.data) == ("big.zip", 5000, b"")
    assert "max_attachment_bytes" in (big.dropped_reason or "")
    assert (small.data, small.dropped_reason) == (b"y" * 10, None)


def test_more_attachments_than_allowed_is_a_limit_for_quarantine():
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@example.lv", "atbalsts@example.lv", "x"
    mail.set_content("Many files.")
    for index in range(4):
        mail.add_attachment(
            b"z", maintype="application", subtype="octet-stream", filename=f"f{index}.bin"
        )
    assert len(parse(mail.as_bytes(), rules=EmailConfig(max_attachments=4)).attachments) == 4
    with pytest.raises(LimitExceeded) as caught:
        parse(mail.as_bytes(), rules=EmailConfig(max_attachments=3))
    assert caught.value.reason == "limit"


def test_forwarded_inline_message_text_is_part_of_the_text_and_kept_as_eml():
    inbound = fixture("forward-inline-rfc822.eml")
    assert "---------- Forwarded message ----------" in inbound.text
    assert "From: Pēteris <peteris@example.lv>" in inbound.text
    assert "Sistēma neļauj saglabāt dokumentu." in inbound.text
    assert "Sistēma neļauj saglabāt dokumentu." in inbound.new_text  # forwarded = the request
    (eml,) = inbound.attachments
    assert (eml.filename, eml.content_type) == ("Kļūda sistēmā.eml", "message/rfc822")
    assert b"Message-ID: <inner-1@example.lv>" in eml.data


def test_a_message_attached_as_a_file_is_an_eml_attachment():
    inbound = fixture("forward-as-attachment.eml")
    assert inbound.text == "Pārsūtu Pētera ziņu."
    (eml,) = inbound.attachments
    assert eml.filename == "Kļūda sistēmā.eml" and "Sistēma neļauj".encode() in eml.data


def test_an_outlook_inline_image_without_a_name_is_named_from_its_content_id():
    raw = raw_mail(
        """
From: a@example.lv
To: atbalsts@example.lv
Subject: logo
MIME-Version: 1.0
Content-Type: multipart/related; boundary=r
""",
        b"--r\r\nContent-Type: text/html\r\n\r\n<p>Hi <img src=cid:image001.png@01D0></p>\r\n"
        b"--r\r\nContent-Type: image/png\r\nContent-ID: <image001.png@01D0>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--r--\r\n",
    )
    (image,) = parse(raw).attachments
    assert (image.filename, image.content_id, image.inline) == (
        "image001.png",
        "image001.png@01D0",
        True,
    )


def test_sent_at_from_the_date_header_and_none_when_unreadable():
    inbound = parse(make_mail(date=dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)))
    assert inbound.sent_at == dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
    garbled = make_mail().replace(b"Date: ", b"Date: not a date at all ", 1)
    assert parse(garbled).sent_at is None


def test_no_from_header_falls_back_to_reply_to_then_the_envelope():
    raw = (
        b"Reply-To: <ilze@novads.example.lv>\r\nTo: atbalsts@example.lv\r\nSubject: x\r\n\r\nhi\r\n"
    )
    assert parse(raw).sender == "ilze@novads.example.lv"
    bare = b"To: atbalsts@example.lv\r\nSubject: x\r\n\r\nhi\r\n"
    assert inbound_from_email(bare, "municipal", envelope_sender="E@x.lv").sender == "e@x.lv"


def test_a_header_line_that_lost_its_folding_does_not_swallow_the_header():
    raw = (
        b"Received: from a.example.lv\r\nby b.example.lv with ESMTP\r\n"
        b"From: Ilze <ilze@novads.example.lv>\r\nSubject: Atskaite\r\n\r\nTeksts\r\n"
    )
    inbound = parse(raw)
    assert (inbound.sender, inbound.subject, inbound.text) == (
        "ilze@novads.example.lv",
        "Atskaite",
        "Teksts",
    )


# --- hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n", b"\x00\x01\x02 binary garbage \xff\xfe"])
def test_no_mail_at_all_is_unparseable(raw):
    with pytest.raises(Unparseable):
        parse(raw)


def test_absurdly_deep_mime_nesting_is_quarantined_not_a_crash():
    body = b""
    for level in reversed(range(200)):
        body = (
            f"--b{level}\r\nContent-Type: multipart/mixed; boundary=b{level + 1}\r\n\r\n".encode()
            + body
            + f"\r\n--b{level}--\r\n".encode()
        )
    raw = b"From: a@example.lv\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n"
    with pytest.raises(MailRejected):
        parse(raw + body)


def _hostile_html(links: int = 100_000, depth: int = 10_000, size: int = 5_000_000) -> str:
    anchors = "".join(f'<a href="http://e.example/{i}">link {i}</a> ' for i in range(links))
    nested = "<div>" * depth + "deep text" + "</div>" * depth
    filler = "<p>" + "lorem ipsum " * max(0, (size - len(anchors) - len(nested)) // 12) + "</p>"
    return f"<html><body>{anchors}{nested}{filler}</body></html>"


@pytest.fixture(scope="module")
def hostile_mail() -> bytes:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "a@example.lv", "atbalsts@example.lv", "x"
    mail.set_content(_hostile_html(), subtype="html", cte="8bit")
    raw = mail.as_bytes()
    assert len(raw) > 5_000_000
    return raw


def test_pathological_html_reads_its_budget_all_along_and_stops_when_it_is_spent(hostile_mail):
    """5 MB, 100k links, 10k nested divs: converted whole when the budget allows, and stopped
    with a "timeout" rejection wherever the budget runs out, never a hang. The clock is the
    test's (one second per reading); the wall-clock times are bench/hostile.py's."""
    rules = EmailConfig(max_text_chars=50_000_000)  # room for all of its text
    ticks = Ticks(1.0)
    inbound = parse(hostile_mail, deadline=Deadline(10.0**9, timer=ticks), rules=rules)
    assert "link 99999 <http://e.example/99999>" in inbound.text
    assert "deep text" in inbound.text
    readings = int(ticks.now)  # the first at the start, then one per check
    assert readings > 100
    for budget in (0, readings // 2, readings - 2):  # at once, halfway, at the last check
        with pytest.raises(MailRejected) as rejected:
            parse(hostile_mail, deadline=Deadline(budget, timer=Ticks(1.0)), rules=rules)
        assert rejected.value.reason == "timeout"


def test_many_tiny_parts_stop_at_the_attachment_limit():
    parts = b"".join(
        b"--b\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n" for _ in range(20_000)
    )
    raw = (
        b"From: a@example.lv\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        + parts
        + b"--b--\r\n"
    )
    with pytest.raises(LimitExceeded) as exceeded:
        parse(raw, rules=EmailConfig(max_attachments=50))
    assert "50" in str(exceeded.value)


# --- fuzzing ----------------------------------------------------------------------------

_SEEDS = sorted(MAIL.glob("*.eml"))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(_SEEDS),
    cuts=st.lists(
        st.tuples(st.floats(0, 1), st.binary(min_size=0, max_size=8)), min_size=1, max_size=6
    ),
)
def test_mangled_mail_is_parsed_or_quarantined_and_stores_only_clean_text(seed, cuts):
    raw = bytearray(seed.read_bytes())
    for where, junk in cuts:
        at = int(where * len(raw))
        raw[at : at + len(junk)] = junk
    try:
        inbound = parse(bytes(raw))
    except MailRejected:
        return
    stored = [
        inbound.text,
        inbound.new_text,
        inbound.subject,
        inbound.sender,
        inbound.sender_name or "",
        inbound.external_id,
        *inbound.references,
        *inbound.recipients,
        *inbound.headers.keys(),
        *inbound.headers.values(),
        *(a.filename for a in inbound.attachments),
        *(a.content_type for a in inbound.attachments),
    ]
    for value in stored:
        value.encode("utf-8")  # a lone surrogate would break the database
