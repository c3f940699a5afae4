"""The new part of a mail: quoted history and signatures of lv/en/ru mail clients removed."""

from __future__ import annotations

import pytest

from tests.helpers import Ticks
from triage_desk.intake.email.quotes import _CHECK_EVERY, split_new_text
from triage_desk.intake.errors import Deadline, ProcessingTimeout

NEW = "Paldies, bet atskaite joprojām ir tukša."


@pytest.mark.parametrize(
    "history",
    [
        # Outlook, Latvian / English / Russian header blocks
        "No: Atbalsts <atbalsts@example.lv>\nNosūtīts: pirmdiena, 2026. gada 23. novembris 10:20\n"
        "Kam: Ilze\nTēma: Atskaite\n\nVecais teksts",
        "From: Support <atbalsts@example.lv>\nSent: Monday, 23 November 2026 10:20\nTo: Ilze\n"
        "Subject: Report\n\nOld text",
        "От: Atbalsts <atbalsts@example.lv>\nОтправлено: 23 ноября 2026 г. 10:20\nКому: Иван\n"
        "Тема: Отчёт\n\nСтарый текст",
        "________________________________\nFrom: Support\nSent: Monday\n\nOld text",
        "-----Original Message-----\nFrom: Support\n\nOld text",
        "-----Исходное сообщение-----\nОт: Atbalsts\n\nСтарый текст",
        # Gmail / Thunderbird / Apple attributions
        "On Mon, 23 Nov 2026 at 10:00, Atbalsts <atbalsts@example.lv> wrote:\n> Old text",
        "On Mon, 23 Nov 2026 at 10:00, Atbalsts Desk <\natbalsts@example.lv> wrote:\n\n> Old text",
        "pirmd., 2026. g. 23. nov., plkst. 10:00 — lietotājs Atbalsts (<atbalsts@example.lv>) "
        "rakstīja:\n> Vecais teksts",
        "23.11.2026 10:00, Atbalsts rakstīja:\n> Vecais teksts",
        "пн, 23 нояб. 2026 г. в 10:00, Atbalsts <atbalsts@example.lv>:\n> Старый текст",
        "23.11.2026 10:00, Иван Петров написал(а):\n> Старый текст",
        "23.11.2026 10:00, Иван пишет:\n> Старый текст",
    ],
)
def test_quoted_history_is_cut(history):
    assert split_new_text(f"{NEW}\n\n{history}\n") == NEW


@pytest.mark.parametrize(
    "signature",
    [
        "-- \nIlze Kalniņa\nTālr. 67000000",
        "Ar cieņu,\nIlze Kalniņa",
        "С уважением,\nИван",
        "Kind regards,\nIlze",
        "Sent from my iPhone",
        "Sūtīts no mana iPhone",
        "Отправлено с iPhone",
    ],
)
def test_signatures_are_cut(signature):
    assert split_new_text(f"{NEW}\n\n{signature}\n") == NEW


def test_bottom_posting_and_inline_answers_keep_the_unquoted_lines():
    text = "> Kad sāka nestrādāt?\nVakar.\n> Kura pārlūkprogramma?\nFirefox."
    assert split_new_text(text) == "Vakar.\nFirefox."


def test_a_forwarded_message_is_the_request_and_stays_in_the_new_text():
    text = (
        "Pārsūtu iedzīvotāja vēstuli.\n\nAr cieņu,\nIlze\n\n"
        "---------- Forwarded message ----------\nFrom: Pēteris <p@example.lv>\n"
        "Date: Mon, 23 Nov 2026\nSubject: Kļūda\nTo: ilze@novads.example.lv\n\n"
        "Sistēma neļauj saglabāt dokumentu.\n\n-- \nPēteris"
    )
    assert split_new_text(text) == (
        "Pārsūtu iedzīvotāja vēstuli.\n\nSistēma neļauj saglabāt dokumentu."
    )


def test_an_outlook_forward_is_recognised_by_its_subject():
    text = (
        "Skatīt zemāk.\n\nNo: Pēteris <p@example.lv>\nNosūtīts: pirmdiena\nKam: Ilze\n"
        "Tēma: Kļūda\n\nSistēma neļauj saglabāt dokumentu."
    )
    assert split_new_text(text, subject="FW: Kļūda") == (
        "Skatīt zemāk.\n\nSistēma neļauj saglabāt dokumentu."
    )
    assert split_new_text(text, subject="RE: Kļūda") == "Skatīt zemāk."


def test_ordinary_lines_that_look_a_little_like_headers_stay():
    text = "No: 12. maija nestrādā atskaites.\nKāpēc?\nOn Monday it worked."
    assert split_new_text(text) == text


def test_when_nothing_new_is_left_the_whole_text_is_kept():
    text = "> only a quote\n> nothing else"
    assert split_new_text(text) == text


def test_long_text_checks_the_deadline_all_along_and_stops_when_it_is_spent():
    text = "\n".join(f"line {i} of a very long mail" for i in range(200_000))
    ticks = Ticks(1.0)  # one "second" per reading of the clock: one per check
    assert split_new_text(text, Deadline(10.0**9, timer=ticks)).startswith("line 0")
    checks = int(ticks.now)
    assert checks >= 200_000 // _CHECK_EVERY  # the budget is read every few lines, to the end
    with pytest.raises(ProcessingTimeout):
        split_new_text(text, Deadline(checks / 2, timer=Ticks(1.0)))
    with pytest.raises(ProcessingTimeout):
        split_new_text(text, Deadline(0))
