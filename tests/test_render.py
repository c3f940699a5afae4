"""Acknowledgement templates and the renderer: every language, both seed desks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from triage_desk.config import DeskConfig, load_config
from triage_desk.responders.localtime import format_clock_range, format_local
from triage_desk.responders.render import (
    PACKAGE_TEMPLATES,
    RenderError,
    TemplateMissingError,
    TemplateRenderer,
    end_sentence,
    without_reply_prefix,
)

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config.example.toml"
RIGA = ZoneInfo("Europe/Riga")
LANGUAGES = ("lv", "en", "ru")
DESKS = ("municipal", "eparaksts")

RECEIVED_IN_HOURS = dt.datetime(2026, 11, 27, 14, 30, tzinfo=dt.UTC)  # Fri 16:30 Riga
RECEIVED_AT_NIGHT = dt.datetime(2026, 11, 27, 21, 15, tzinfo=dt.UTC)  # Fri 23:15 Riga
NEXT_OPENING = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)  # Mon 09:00 Riga
RESPONSE_DUE = dt.datetime(2026, 11, 30, 8, 30, tzinfo=dt.UTC)  # Mon 10:30 Riga
SUBJECT = "Neizdodas saglabāt dokumentu"

OUT_OF_HOURS = {
    "lv": "saņemta ārpus darba laika",
    "en": "arrived outside our working hours",
    "ru": "поступило в нерабочее время",
}
PRELIMINARY = {
    "lv": "iepriekšēja klasifikācija",
    "en": "preliminary classification",
    "ru": "предварительная классификация",
}
FEEDBACK_REGISTERED = {
    "lv": "Jūsu atsauksme ir reģistrēta.",
    "en": "We have registered your feedback.",
    "ru": "Ваш отзыв зарегистрирован.",
}
NO_TARGET = {
    "lv": "Šai kategorijai nav noteikta atbildes termiņa",
    "en": "There is no set response time for this category",
    "ru": "Для этой категории срок ответа не установлен",
}
DUE_LEAD = {  # the words just before the response due time
    ("municipal", "lv"): "Atbildi Jums sniegsim ne vēlāk kā ",
    ("municipal", "en"): "We will reply by ",
    ("municipal", "ru"): "Срок ответа: ",
    ("eparaksts", "lv"): "Jūsu iesniegumu apstrādāsim ne vēlāk kā ",
    ("eparaksts", "en"): "We will process your application by ",
    ("eparaksts", "ru"): "Срок обработки заявления: ",
}
NO_ARTICLE = {  # out of hours, when the assistant found nothing: honest, a person will answer
    "lv": "Virtuālais asistents mūsu zināšanu bāzē neatrada atbildi uz Jūsu jautājumu, tāpēc "
    "Jums atbildēs mūsu darbinieks.",
    "en": "Our virtual assistant did not find an answer to your message in our knowledge base, "
    "so a member of staff will reply to you.",
    "ru": "Виртуальный ассистент не нашёл в нашей базе знаний ответа на Ваш вопрос, поэтому Вам "
    "ответит наш сотрудник.",
}
ARTICLES_LEAD = {
    "lv": "Kamēr gaidāt atbildi, Jums varētu noderēt šie raksti no mūsu zināšanu bāzes:",
    "en": "While you wait, these articles from our knowledge base may help:",
    "ru": "Пока Вы ждёте ответа, Вам могут пригодиться эти статьи из нашей базы знаний:",
}
QUEUED = {  # the request waits in the queue until the desk opens
    "lv": "Pieteikums ir ievietots rindā, un tā apstrāde sāksies darba dienas sākumā – ",
    "en": "Your request is in our queue, and we will start processing it when we open on ",
    "ru": "Обращение поставлено в очередь, и его обработка начнётся с началом рабочего дня — ",
}
MONTH = {"lv": "novembrī", "en": "November", "ru": "ноября"}  # every date in these tests
QUOTES = {"lv": ("„", "”"), "en": ('"', '"'), "ru": ("«", "»")}
PHONE = "67108787"
EMERGENCY_PHONE = "+371 25477477"
ALWAYS_OPEN_WORDS = {"lv": "visu diennakti (24/7)", "en": "24/7", "ru": "круглосуточно (24/7)"}
DESK_KEYS = {"MUN": "municipal", "EPA": "eparaksts"}  # the example config's desks


@pytest.fixture(scope="module")
def desks() -> dict[str, DeskConfig]:
    return load_config(EXAMPLE_CONFIG).desks


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


def quoted(label: str, language: str) -> str:
    left, right = QUOTES[language]
    return f"{left}{label}{right}"


ARTICLES = [
    {
        "title": "Paroles atjaunošana",
        "summary": "Kā atjaunot aizmirstu paroli.",
        "url": "https://kb.example.lv/parole",
    },
    {"title": "Atskaites eksports", "summary": "", "url": None},
]


def context(
    desk: DeskConfig,
    category: str,
    language: str,
    *,
    out_of_hours: bool = False,
    feedback_type: str = "none",
    response_due: dt.datetime | None = RESPONSE_DUE,
    resolution_due: dt.datetime | None = None,
    subject: str = SUBJECT,
    articles: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The full acknowledgement context of the template contract, from the example config."""
    cat = desk.categories[category]
    received = RECEIVED_AT_NIGHT if out_of_hours else RECEIVED_IN_HOURS
    clock_start = received if (cat.around_the_clock or not out_of_hours) else NEXT_OPENING
    feedback = desk.feedback_types.get(feedback_type)
    return {
        "ticket_number": f"{desk.ticket_prefix}-2026-000123",
        "desk": DESK_KEYS[desk.ticket_prefix],
        "desk_name": desk.name,
        "language": language,
        "contacts": dict(desk.contacts),
        "category": category,
        "category_label": cat.label(language),
        "feedback_type": feedback_type,
        "feedback_label": feedback.labels[language] if feedback else None,
        "response_due_text": format_local(response_due, RIGA, language) if response_due else None,
        "resolution_due_text": (
            format_local(resolution_due, RIGA, language) if resolution_due else None
        ),
        "out_of_hours": out_of_hours,
        "clock_start_text": format_local(clock_start, RIGA, language),
        "opening_hours_text": format_clock_range(desk.calendar.open, desk.calendar.close, language),
        "subject": subject,
        "around_the_clock": cat.around_the_clock,
        "urgent": cat.urgent,
        "assistant_articles": list(articles or []),
    }


def assert_clean(text: str) -> None:
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    assert not text.startswith("\n")
    assert "\n\n\n" not in text
    assert all(line == line.rstrip() for line in text.split("\n"))
    for leftover in ("{{", "}}", "{%", "%}", "{#", "None", "Subject:"):
        assert leftover not in text


# --- The acknowledgement, scenario by scenario -------------------------------------------------

REQUEST_CATEGORY = {"municipal": "error", "eparaksts": "application"}


@pytest.mark.parametrize("desk_name", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_in_hours(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_name: str, language: str
) -> None:
    desk = desks[desk_name]
    ctx = context(desk, REQUEST_CATEGORY[desk_name], language)
    out = renderer.render("acknowledgement", desk_name, language, ctx)

    ticket = ctx["ticket_number"]
    assert out.subject == f"[{ticket}] Re: {SUBJECT}"
    assert ticket in out.text
    assert f"[{ticket}]" in out.text  # the reply hint keeps threading working
    assert quoted(ctx["category_label"], language) in out.text
    assert PRELIMINARY[language] in out.text
    assert DUE_LEAD[desk_name, language] + ctx["response_due_text"] + "." in out.text
    assert OUT_OF_HOURS[language] not in out.text
    assert PHONE not in out.text
    assert desk.name in out.text
    assert_clean(out.text)


@pytest.mark.parametrize("desk_name", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_out_of_hours(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_name: str, language: str
) -> None:
    desk = desks[desk_name]
    ctx = context(desk, REQUEST_CATEGORY[desk_name], language, out_of_hours=True)
    out = renderer.render("acknowledgement", desk_name, language, ctx)

    assert OUT_OF_HOURS[language] in out.text
    assert ctx["clock_start_text"] in out.text
    assert ctx["opening_hours_text"] in out.text
    assert QUEUED[language] + ctx["clock_start_text"] + "." in out.text
    assert DUE_LEAD[desk_name, language] + ctx["response_due_text"] in out.text
    assert NO_ARTICLE[language] in out.text  # nothing found: a person will answer, honestly
    assert ARTICLES_LEAD[language] not in out.text
    if desk_name == "eparaksts":
        assert PHONE in out.text
        assert "https://www.eparaksts.lv" in out.text
        assert EMERGENCY_PHONE not in out.text
        assert ctx["opening_hours_text"] == "09:00–18:00"
    else:
        assert PHONE not in out.text
        assert EMERGENCY_PHONE in out.text  # terms clauses 27.1, 27.2 and 29
        assert ctx["opening_hours_text"] == "09:00–17:00"
    assert_clean(out.text)


def test_clock_start_is_shown_in_words(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig]
) -> None:
    ctx = context(desks["municipal"], "error", "lv", out_of_hours=True)
    out = renderer.render("acknowledgement", "municipal", "lv", ctx)
    assert (
        "Jūsu vēstule saņemta ārpus darba laika (darba dienās 09:00–17:00). Pieteikums ir "
        "ievietots rindā, un tā apstrāde sāksies darba dienas sākumā – pirmdien, 2026. gada "
        "30. novembrī plkst. 09:00.\n"
    ) in out.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_feedback_without_target_on_municipal_desk(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    desk = desks["municipal"]
    assert desk.categories["feedback"].response is None  # the config says: no target
    ctx = context(desk, "feedback", language, feedback_type="suggestion", response_due=None)
    out = renderer.render("acknowledgement", "municipal", language, ctx)

    assert FEEDBACK_REGISTERED[language] in out.text
    assert quoted(ctx["category_label"], language) in out.text
    assert quoted(ctx["feedback_label"], language) in out.text
    assert DUE_LEAD["municipal", language] not in out.text
    assert MONTH[language] not in out.text  # no date promised
    assert OUT_OF_HOURS[language] not in out.text
    assert_clean(out.text)


@pytest.mark.parametrize("desk_name", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_request_category_without_target(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_name: str, language: str
) -> None:
    desk = desks[desk_name]
    ctx = context(desk, REQUEST_CATEGORY[desk_name], language, response_due=None)
    out = renderer.render("acknowledgement", desk_name, language, ctx)
    assert NO_TARGET[language] in out.text
    assert MONTH[language] not in out.text
    assert_clean(out.text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_feedback_with_target_on_eparaksts_desk(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    ctx = context(desks["eparaksts"], "feedback", language, feedback_type="complaint_service")
    out = renderer.render("acknowledgement", "eparaksts", language, ctx)
    lead = {
        "lv": "Jūsu atsauksmi izskatīsim ne vēlāk kā ",
        "en": "We will review your feedback by ",
        "ru": "Срок рассмотрения отзыва: ",
    }[language]
    assert lead + ctx["response_due_text"] + "." in out.text
    assert quoted(ctx["feedback_label"], language) in out.text
    assert_clean(out.text)


def test_suspension_instructions_only_on_eparaksts(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig]
) -> None:
    for language in LANGUAGES:
        ctx = context(desks["municipal"], "emergency", language, out_of_hours=True)
        assert PHONE not in renderer.render("acknowledgement", "municipal", language, ctx).text


@pytest.mark.parametrize("language", LANGUAGES)
def test_urgent_and_resolution_lines(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    resolution = dt.datetime(2026, 12, 2, 14, 30, tzinfo=dt.UTC)
    ctx = context(desks["municipal"], "emergency", language, resolution_due=resolution)
    out = renderer.render("acknowledgement", "municipal", language, ctx)
    urgent = {"lv": "steidzams", "en": "urgent", "ru": "срочное"}[language]
    assert urgent in out.text
    assert ctx["resolution_due_text"] in out.text

    calm = context(desks["municipal"], "error", language)
    assert urgent not in renderer.render("acknowledgement", "municipal", language, calm).text


def test_same_response_and_resolution_time_is_said_once(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig]
) -> None:
    # eParaksts: an application is processed within 1 working day, response = resolution.
    ctx = context(desks["eparaksts"], "application", "en", resolution_due=RESPONSE_DUE)
    out = renderer.render("acknowledgement", "eparaksts", "en", ctx)
    assert out.text.count(ctx["response_due_text"]) == 1


def test_feedback_alongside_a_request(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig]
) -> None:
    ctx = context(desks["municipal"], "error", "en", feedback_type="complaint_service")
    out = renderer.render("acknowledgement", "municipal", "en", ctx)
    assert 'Your message also contains feedback ("Complaint about the service")' in out.text


def test_whole_letter_exactly(renderer: TemplateRenderer, desks: dict[str, DeskConfig]) -> None:
    ctx = context(desks["municipal"], "error", "en", out_of_hours=True)
    out = renderer.render("acknowledgement", "municipal", "en", ctx)
    assert out.subject == "[MUN-2026-000123] Re: Neizdodas saglabāt dokumentu"
    assert out.text == (
        "Hello,\n"
        "\n"
        "Thank you for your message. We have received it and registered it under reference "
        "number MUN-2026-000123.\n"
        "\n"
        'We have provisionally classified it as "Error". This is a preliminary classification: '
        "a member of staff will check it and confirm or change it.\n"
        "\n"
        "Your message arrived outside our working hours (09:00–17:00 on working days). Your "
        "request is in our queue, and we will start processing it when we open on Monday, "
        "30 November 2026 at 09:00.\n"
        "Our virtual assistant did not find an answer to your message in our knowledge base, "
        "so a member of staff will reply to you.\n"
        "\n"
        "Emergencies and serious errors can also be reported by phone on +371 25477477.\n"
        "\n"
        "We will reply by Monday, 30 November 2026 at 10:30.\n"
        "If the category is changed, the deadlines will change accordingly, and we will "
        "explain the reason to you.\n"
        "\n"
        "When replying, please keep [MUN-2026-000123] in the subject line so that your "
        "message is added to this request.\n"
        "\n"
        "Kind regards,\n"
        "Vienotās pašvaldību sistēmas lietotāju atbalsts\n"
        "\n"
        "This message was sent automatically.\n"
    )


def test_whole_letter_with_articles_in_latvian(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig]
) -> None:
    ctx = context(desks["eparaksts"], "application", "lv", out_of_hours=True, articles=ARTICLES)
    out = renderer.render("acknowledgement", "eparaksts", "lv", ctx)
    assert out.text == (
        "Labdien!\n"
        "\n"
        "Paldies, ka sazinājāties ar mums. Jūsu vēstule ir saņemta un reģistrēta ar pieteikuma "
        "numuru EPA-2026-000123.\n"
        "\n"
        "Pieteikumam automātiski noteikta kategorija „Iesniegums”. Tā ir iepriekšēja "
        "klasifikācija, ko mūsu darbinieki pārbaudīs un apstiprinās vai mainīs.\n"
        "\n"
        "Jūsu vēstule saņemta ārpus darba laika (darba dienās 09:00–18:00). Pieteikums ir "
        "ievietots rindā, un tā apstrāde sāksies darba dienas sākumā – pirmdien, 2026. gada "
        "30. novembrī plkst. 09:00.\n"
        "\n"
        "Ja nepieciešams apturēt vai atsaukt sertifikātu, nav jāgaida: to var izdarīt visu "
        "diennakti (24/7) portālā https://www.eparaksts.lv vai pa klientu apkalpošanas tālruni "
        "67108787.\n"
        "\n"
        "Jūsu iesniegumu apstrādāsim ne vēlāk kā pirmdien, 2026. gada 30. novembrī plkst. "
        "10:30.\n"
        "Ja kategorija tiks mainīta, atbilstoši mainīsies arī termiņi, un mēs Jums "
        "paskaidrosim izmaiņu iemeslu.\n"
        "\n"
        "Kamēr gaidāt atbildi, Jums varētu noderēt šie raksti no mūsu zināšanu bāzes:\n"
        "\n"
        "- Paroles atjaunošana\n"
        "  Kā atjaunot aizmirstu paroli.\n"
        "  https://kb.example.lv/parole\n"
        "\n"
        "- Atskaites eksports\n"
        "\n"
        "Atbildot uz šo vēstuli, lūdzu, saglabājiet temata rindā pieteikuma numuru "
        "[EPA-2026-000123], lai Jūsu vēstule tiktu pievienota šim pieteikumam.\n"
        "\n"
        "Ar cieņu\n"
        "eParaksts klientu apkalpošana\n"
        "\n"
        "Šī vēstule ir nosūtīta automātiski.\n"
    )


# --- The assistant's suggestions and the 24/7 routes in the acknowledgement ---------------------


@pytest.mark.parametrize("out_of_hours", [False, True])
@pytest.mark.parametrize("desk_name", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_articles_are_listed(
    renderer: TemplateRenderer,
    desks: dict[str, DeskConfig],
    desk_name: str,
    language: str,
    out_of_hours: bool,
) -> None:
    ctx = context(
        desks[desk_name],
        REQUEST_CATEGORY[desk_name],
        language,
        out_of_hours=out_of_hours,
        articles=ARTICLES,
    )
    out = renderer.render("acknowledgement", desk_name, language, ctx)
    assert ARTICLES_LEAD[language] + "\n\n- Paroles atjaunošana\n" in out.text
    assert "  Kā atjaunot aizmirstu paroli.\n  https://kb.example.lv/parole\n" in out.text
    assert "\n- Atskaites eksports\n\n" in out.text  # no summary, no link: just the title
    assert NO_ARTICLE[language] not in out.text  # the assistant did find something
    assert (OUT_OF_HOURS[language] in out.text) is out_of_hours
    assert_clean(out.text)


def test_a_multi_line_summary_stays_inside_its_list_item(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig]
) -> None:
    article = {"title": "PIN", "summary": "First line.\nSecond line.", "url": None}
    ctx = context(desks["eparaksts"], "application", "en", articles=[article])
    out = renderer.render("acknowledgement", "eparaksts", "en", ctx)
    assert "\n- PIN\n  First line.\n  Second line.\n\nWhen replying" in out.text


@pytest.mark.parametrize("desk_name", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_in_hours_without_articles_says_nothing_about_the_assistant(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_name: str, language: str
) -> None:
    ctx = context(desks[desk_name], REQUEST_CATEGORY[desk_name], language)
    out = renderer.render("acknowledgement", desk_name, language, ctx)
    assert NO_ARTICLE[language] not in out.text
    assert ARTICLES_LEAD[language] not in out.text
    assert EMERGENCY_PHONE not in out.text  # the routes belong to the out-of-hours text


@pytest.mark.parametrize("language", LANGUAGES)
def test_routes_come_from_the_desk_contacts(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    ctx = context(desks["eparaksts"], "application", language, out_of_hours=True)
    ctx["contacts"] = {"phone": "80001234", "portal": "https://sign.example.org"}
    text = renderer.render("acknowledgement", "eparaksts", language, ctx).text
    assert "80001234" in text and "https://sign.example.org" in text
    assert PHONE not in text and "eparaksts.lv" not in text

    ctx["contacts"] = {"phone": "80001234"}  # no portal: the phone alone, still a sentence
    text = renderer.render("acknowledgement", "eparaksts", language, ctx).text
    assert "80001234." in text and ALWAYS_OPEN_WORDS[language] in text
    ctx["contacts"] = {}
    text = renderer.render("acknowledgement", "eparaksts", language, ctx).text
    assert ALWAYS_OPEN_WORDS[language] not in text
    assert_clean(text)

    ctx = context(desks["municipal"], "error", language, out_of_hours=True)
    ctx["contacts"] = {"emergency_phone": "+371 20000000"}
    text = renderer.render("acknowledgement", "municipal", language, ctx).text
    assert "+371 20000000." in text and EMERGENCY_PHONE not in text
    ctx["contacts"] = {}
    assert "+371" not in renderer.render("acknowledgement", "municipal", language, ctx).text


# --- Subjects -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("lv", "[MUN-2026-000123] Jūsu vēstule ir saņemta"),
        ("en", "[MUN-2026-000123] Your message has been received"),
        ("ru", "[MUN-2026-000123] Ваше обращение получено"),
    ],
)
def test_subject_when_the_person_gave_none(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str, expected: str
) -> None:
    ctx = context(desks["municipal"], "error", language, subject="")
    assert renderer.render("acknowledgement", "municipal", language, ctx).subject == expected


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("Re: AW: Printeris nedrukā", "[MUN-2026-000123] Re: Printeris nedrukā"),
        ("Atb.: Pārs.: Rēķins", "[MUN-2026-000123] Re: Rēķins"),
        ("Отв: проблема со входом", "[MUN-2026-000123] Re: проблема со входом"),
        ("Line one\r\nline two", "[MUN-2026-000123] Re: Line one line two"),
        ("<b>Tom & Jerry</b>", "[MUN-2026-000123] Re: <b>Tom & Jerry</b>"),  # text: no escaping
        ("Re:", "[MUN-2026-000123] Your message has been received"),
    ],
)
def test_subject_is_one_clean_line(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], original: str, expected: str
) -> None:
    ctx = context(desks["municipal"], "error", "en", subject=original)
    assert renderer.render("acknowledgement", "municipal", "en", ctx).subject == expected


def test_without_reply_prefix_keeps_ordinary_words() -> None:
    assert without_reply_prefix("Report on errors") == "Report on errors"
    assert without_reply_prefix("Regarding: access") == "Regarding: access"
    assert without_reply_prefix("RE[2]: FWD: x") == "x"


def test_end_sentence() -> None:
    assert end_sentence("30 мая 2027 г.") == "30 мая 2027 г."
    assert end_sentence("Monday at 10:30") == "Monday at 10:30."


# --- The renderer -------------------------------------------------------------------------------


@pytest.mark.parametrize("desk_name", [*DESKS, "some_new_desk"])
def test_languages(renderer: TemplateRenderer, desk_name: str) -> None:
    assert renderer.languages("acknowledgement", desk_name) == {"lv", "en", "ru"}
    assert renderer.languages("no_such_kind", desk_name) == set()


def test_package_templates_have_the_documented_shape() -> None:
    files = sorted(PACKAGE_TEMPLATES.rglob("*.j2"))
    assert {f.relative_to(PACKAGE_TEMPLATES).as_posix() for f in files} >= {
        f"{desk}/acknowledgement.{lang}.txt.j2"
        for desk in ("default", "eparaksts")
        for lang in LANGUAGES
    }
    for path in files:
        first, second = path.read_text(encoding="utf-8").split("\n")[:2]
        assert first.startswith("Subject: ["), path
        assert second == "", path
    assert not (PACKAGE_TEMPLATES / "__init__.py").exists()


def test_missing_variable_raises(renderer: TemplateRenderer, desks: dict[str, DeskConfig]) -> None:
    ctx = context(desks["municipal"], "error", "lv")
    del ctx["ticket_number"]
    with pytest.raises(RenderError, match="ticket_number"):
        renderer.render("acknowledgement", "municipal", "lv", ctx)


@pytest.mark.parametrize("name", ["contacts", "assistant_articles", "opening_hours_text"])
@pytest.mark.parametrize("desk_name", DESKS)
def test_new_contract_variables_are_required(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_name: str, name: str
) -> None:
    ctx = context(desks[desk_name], REQUEST_CATEGORY[desk_name], "lv", out_of_hours=True)
    del ctx[name]
    with pytest.raises(RenderError, match=name):
        renderer.render("acknowledgement", desk_name, "lv", ctx)


def test_missing_variable_in_a_branch_raises_when_the_branch_is_taken(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig]
) -> None:
    ctx = context(desks["eparaksts"], "application", "ru", out_of_hours=True)
    del ctx["clock_start_text"]
    with pytest.raises(RenderError, match="clock_start_text"):
        renderer.render("acknowledgement", "eparaksts", "ru", ctx)


def write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_lookup_order(tmp_path: Path) -> None:
    write(tmp_path, "default/note.en.txt.j2", "Subject: default en\n\ndefault en\n")
    write(tmp_path, "default/note.lv.txt.j2", "Subject: default lv\n\ndefault lv\n")
    write(tmp_path, "desk1/note.lv.txt.j2", "Subject: desk1 lv\n\ndesk1 lv\n")
    write(tmp_path, "desk2/note.en.txt.j2", "Subject: desk2 en\n\ndesk2 en\n")
    renderer = TemplateRenderer([tmp_path])

    def subject(desk: str, language: str) -> str:
        return renderer.render("note", desk, language, {}).subject

    assert subject("desk1", "lv") == "desk1 lv"  # desk override wins
    assert subject("desk1", "en") == "default en"
    assert subject("desk2", "lv") == "default lv"  # the language before the desk's English
    assert subject("desk2", "ru") == "desk2 en"  # English as last resort, desk first
    assert subject("other", "ru") == "default en"
    assert subject("desk1", "lv-LV") == "desk1 lv"
    assert renderer.languages("note", "desk1") == {"lv", "en"}


def test_deployment_dir_overrides_package_templates(
    tmp_path: Path, desks: dict[str, DeskConfig]
) -> None:
    write(
        tmp_path,
        "default/acknowledgement.en.txt.j2",
        "Subject: [{{ ticket_number }}] Thanks\n\nLocal text for {{ ticket_number }}.\n",
    )
    renderer = TemplateRenderer([tmp_path])
    ctx = context(desks["municipal"], "error", "en")
    out = renderer.render("acknowledgement", "municipal", "en", ctx)
    assert out.subject == "[MUN-2026-000123] Thanks"
    assert out.text == "Local text for MUN-2026-000123.\n"
    # The package's desk override is still more specific than a deployment's default.
    assert (
        PHONE
        in renderer.render(
            "acknowledgement",
            "eparaksts",
            "en",
            {**context(desks["eparaksts"], "application", "en", out_of_hours=True)},
        ).text
    )
    # Languages the deployment did not override still come from the package.
    assert "Labdien!" in renderer.render("acknowledgement", "municipal", "lv", ctx).text


def test_missing_template_names_the_paths_tried(tmp_path: Path) -> None:
    renderer = TemplateRenderer([tmp_path])
    with pytest.raises(TemplateMissingError) as caught:
        renderer.render("no_such_kind", "eparaksts", "ru", {})
    message = str(caught.value)
    for tried in (
        "eparaksts/no_such_kind.ru.txt.j2",
        "default/no_such_kind.ru.txt.j2",
        "eparaksts/no_such_kind.en.txt.j2",
        "default/no_such_kind.en.txt.j2",
        str(tmp_path),
        str(PACKAGE_TEMPLATES),
    ):
        assert tried in message
    assert isinstance(caught.value, LookupError)


def test_template_without_subject_line_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "default/bad.en.txt.j2", "Hello\n\nbody\n")
    write(tmp_path, "default/worse.en.txt.j2", "Subject: x\nbody right away\n")
    renderer = TemplateRenderer([tmp_path])
    with pytest.raises(RenderError, match=r"bad\.en\.txt\.j2.*first line must be 'Subject:"):
        renderer.render("bad", "d", "en", {})
    with pytest.raises(RenderError, match=r"second line must be blank"):
        renderer.render("worse", "d", "en", {})


def test_undefined_variable_in_custom_template(tmp_path: Path) -> None:
    write(tmp_path, "default/k.en.txt.j2", "Subject: s\n\n{{ present }} and {{ absent }}\n")
    renderer = TemplateRenderer([tmp_path])
    with pytest.raises(RenderError, match="'absent' is undefined"):
        renderer.render("k", "d", "en", {"present": 1})
    assert renderer.render("k", "d", "en", {"present": 1, "absent": 2}).text == "1 and 2\n"


def test_text_is_normalised(tmp_path: Path) -> None:
    write(
        tmp_path,
        "default/k.en.txt.j2",
        "Subject:   spaced   out  \n\n\n\nHello   \n{% if flag %}\n  yes\n{% endif %}\n\n\n\n"
        "bye\t\n\n\n",
    )
    out = TemplateRenderer([tmp_path]).render("k", "d", "en", {"flag": False})
    assert out.subject == "spaced out"
    assert out.text == "Hello\n\nbye\n"


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "x y"])
def test_names_cannot_be_paths(renderer: TemplateRenderer, bad: str) -> None:
    with pytest.raises(ValueError, match="not a plain name"):
        renderer.render("acknowledgement", bad, "en", {})
    with pytest.raises(ValueError, match="not a plain name"):
        renderer.render(bad, "municipal", "en", {})


def test_preload_compiles_every_template_and_a_broken_one_fails_at_start(tmp_path: Path) -> None:
    shipped = TemplateRenderer().preload()
    assert shipped == len(list(PACKAGE_TEMPLATES.rglob("*.txt.j2")))
    write(tmp_path, "default/note.en.txt.j2", "Subject: fine\n\nfine\n")
    assert TemplateRenderer([tmp_path]).preload() == shipped + 1
    write(tmp_path, "default/broken.en.txt.j2", "Subject: x\n\n{% if %}\n")
    with pytest.raises(jinja2.TemplateSyntaxError):
        TemplateRenderer([tmp_path]).preload()
