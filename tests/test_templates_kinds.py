"""The reply templates of issue 5 besides the acknowledgement (tests/test_render.py has that).

Every kind renders in Latvian, English and Russian for both seed desks, with the full context
of the template contract; each test checks the words that carry the promise: the ticket number,
the due time passed in, the category, the 24/7 routes from the desk's contacts, the grounds of
a refusal, the staff member's words exactly as written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from triage_desk.config import DeskConfig, load_config
from triage_desk.responders.localtime import format_clock_range, format_local
from triage_desk.responders.render import RenderError, TemplateRenderer, join_words

EXAMPLE_CONFIG = Path(__file__).resolve().parent.parent / "config.example.toml"
RIGA = ZoneInfo("Europe/Riga")
LANGUAGES = ("lv", "en", "ru")
DESKS = ("municipal", "eparaksts")
KINDS = (
    "urgent_route",
    "refusal",
    "refusal_withdrawn",
    "recategorisation",
    "staff_reply",
    "resolution",
    "undeliverable_notice",
    "reply_limit_notice",
    "assistant_answer",
    "assistant_decline",
)
CHAT_KINDS = ("assistant_answer", "assistant_decline")

SATURDAY_3AM = dt.datetime(2026, 11, 28, 1, 0, tzinfo=dt.UTC)  # Sat 03:00 Riga
NEXT_OPENING = dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)  # Mon 09:00 Riga
RESPONSE_DUE = dt.datetime(2026, 11, 30, 8, 30, tzinfo=dt.UTC)  # Mon 10:30 Riga
RESOLUTION_DUE = dt.datetime(2026, 12, 7, 8, 30, tzinfo=dt.UTC)  # Mon 7 Dec 10:30 Riga
RESOLVED = dt.datetime(2026, 12, 1, 13, 5, tzinfo=dt.UTC)  # Tue 15:05 Riga
SUBJECT = "Neizdodas saglabāt dokumentu"
PHONE = "67108787"
EMERGENCY_PHONE = "+371 25477477"

QUOTES = {"lv": ("„", "”"), "en": ('"', '"'), "ru": ("«", "»")}
# What the example config gives as refusal grounds (terms clause 28), per language.
GROUNDS = {
    "lv": "Vienotās pašvaldību sistēmas uzturēšanas noteikumu 28. punkts",
    "en": "clause 28 of the Unified Municipal System maintenance terms",
    "ru": "пункт 28 правил обслуживания Единой муниципальной системы",
}
# The category each kind is about, per desk (any category renders; these are the real ones).
TOPIC = {
    ("urgent_route", "eparaksts"): "suspension",
    ("urgent_route", "municipal"): "emergency",
    ("refusal", "eparaksts"): "application",
    ("refusal", "municipal"): "consultation",
    ("refusal_withdrawn", "eparaksts"): "application",
    ("refusal_withdrawn", "municipal"): "consultation",
    ("resolution", "eparaksts"): "application",
    ("resolution", "municipal"): "error",
}
DEFAULT_TOPIC = {"municipal": "consultation", "eparaksts": "application"}
OLD_TOPIC = {"municipal": "error", "eparaksts": "feedback"}  # recategorised from these
REASON = "Sistēma darbojas pareizi, kļūdas nav.\nJautājums ir par to, kā lietot atskaišu filtru."
BODY = (
    "Labdien, Anna!\n"
    "\n"
    "Lūdzu, mēģiniet vēlreiz:\n"
    "  1. atveriet „Atskaites”;\n"
    "  2. nospiediet {{ Eksportēt }} un {% izvēlieties %} CSV.\n"
    "\n"
    "Jānis"
)


@pytest.fixture(scope="module")
def desks() -> dict[str, DeskConfig]:
    return load_config(EXAMPLE_CONFIG).desks


@pytest.fixture(scope="module")
def renderer() -> TemplateRenderer:
    return TemplateRenderer()


def quoted(text: str, language: str) -> str:
    left, right = QUOTES[language]
    return f"{left}{text}{right}"


def local(instant: dt.datetime, language: str) -> str:
    return format_local(instant, RIGA, language)


def allowed_labels(desk: DeskConfig, language: str) -> list[str]:
    return [
        category.label(language)
        for key, category in desk.categories.items()
        if category.submitted_by == "anyone" and key != "feedback"
    ]


def context(desk_key: str, desk: DeskConfig, kind: str, language: str) -> dict[str, Any]:
    """The full context the contract promises for ``kind``, from the example config."""
    topic = TOPIC.get((kind, desk_key), DEFAULT_TOPIC[desk_key])
    label = desk.categories[topic].label
    common: dict[str, Any] = {
        "ticket_number": f"{desk.ticket_prefix}-2026-000123",
        "desk": desk_key,
        "desk_name": desk.name,
        "subject": SUBJECT,
        "language": language,
        "opening_hours_text": format_clock_range(desk.calendar.open, desk.calendar.close, language),
        "contacts": dict(desk.contacts),
    }
    specific: dict[str, Any] = {
        "urgent_route": {
            "category": topic,
            "category_label": label(language),
            "received_text": local(SATURDAY_3AM, language),
        },
        "refusal": {
            "category": topic,
            "category_label": label(language),
            "client_name": "Example municipality",
            "representatives": ["it.nodala@novads.example.lv"],
            "allowed_category_labels": allowed_labels(desk, language),
            "grounds_text": GROUNDS[language],
        },
        "refusal_withdrawn": {
            "category": topic,
            "category_label": label(language),
            "response_due_text": local(RESPONSE_DUE, language),
            "response_overdue": False,
            "resolution_due_text": local(RESOLUTION_DUE, language),
        },
        "recategorisation": {
            "old_category_label": desk.categories[OLD_TOPIC[desk_key]].label(language),
            "new_category_label": label(language),
            "reason": REASON,
            "staff_name": "Anna Kalniņa",
            "response_due_text": local(RESPONSE_DUE, language),
            "resolution_due_text": local(RESOLUTION_DUE, language),
        },
        "staff_reply": {"body": BODY, "staff_name": "Jānis Ozols"},
        "resolution": {
            "category_label": label(language),
            "resolved_text": local(RESOLVED, language),
            "survey_url": desk.contacts.get("survey_url"),
        },
        "undeliverable_notice": {
            "address": "anna.berzina@novads.example.lv",
            "status_code": "5.1.1",
            "affected_ticket_numbers": ["MUN-2026-000123", "MUN-2026-000140"],
        },
        "reply_limit_notice": {
            "held_ticket_numbers": ["MUN-2026-000123", "MUN-2026-000124"],
            "urgent": False,
            "category_label": label(language),
            "limit_per_minute": 30,
            "limit_per_hour": 300,
        },
        "assistant_answer": {
            "question": "Kā atjaunot paroli?",
            "article_title": "Paroles atjaunošana",
            "article_answer": "Atveriet pieteikšanās lapu.\nNospiediet „Aizmirsu paroli”.",
            "article_url": "https://kb.example.lv/parole",
        },
        "assistant_decline": {
            "question": "Kad būs jaunā versija?",
            "clock_start_text": local(NEXT_OPENING, language),
            "out_of_hours": True,
        },
    }[kind]
    return {**common, **specific}


def assert_clean(text: str) -> None:
    assert text.endswith("\n")
    assert not text.endswith("\n\n")
    assert not text.startswith("\n")
    assert "\n\n\n" not in text
    assert all(line == line.rstrip() for line in text.split("\n"))
    for leftover in ("None", "Subject:", "#}", "{#", "[]", "''"):
        assert leftover not in text


def render(
    renderer: TemplateRenderer,
    desks: dict[str, DeskConfig],
    kind: str,
    desk_key: str,
    language: str,
    **changes: Any,
) -> tuple[dict[str, Any], str, str]:
    ctx = {**context(desk_key, desks[desk_key], kind, language), **changes}
    out = renderer.render(kind, desk_key, language, ctx)
    return ctx, out.subject, out.text


# --- Every kind, every language, both desks -----------------------------------------------------


@pytest.mark.parametrize("desk_key", DESKS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_exists_in_every_language(
    renderer: TemplateRenderer, kind: str, desk_key: str
) -> None:
    assert renderer.languages(kind, desk_key) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("desk_key", DESKS)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_cleanly(
    renderer: TemplateRenderer,
    desks: dict[str, DeskConfig],
    kind: str,
    desk_key: str,
    language: str,
) -> None:
    ctx, subject, text = render(renderer, desks, kind, desk_key, language)
    ticket = ctx["ticket_number"]
    assert subject.startswith(f"[{ticket}]")
    assert "{{" not in subject and "None" not in subject
    if kind != "staff_reply":  # the staff member's text may contain anything, braces included
        assert "{{" not in text and "{%" not in text
    assert_clean(text)
    if kind not in CHAT_KINDS:
        assert desks[desk_key].name in text
    # those list it or need not
    if kind not in ("undeliverable_notice", "reply_limit_notice", "assistant_answer"):
        assert ticket in text


# Variables each kind cannot do without: leaving one out is an error, never a blank.
REQUIRED = {
    "urgent_route": ("ticket_number", "desk_name", "category_label", "received_text", "contacts"),
    "refusal": (
        "ticket_number",
        "subject",
        "category_label",
        "client_name",
        "representatives",
        "allowed_category_labels",
        "grounds_text",
    ),
    "refusal_withdrawn": (
        "ticket_number",
        "category_label",
        "response_due_text",
        "response_overdue",
        "resolution_due_text",
    ),
    "recategorisation": (
        "old_category_label",
        "new_category_label",
        "reason",
        "staff_name",
        "response_due_text",
        "resolution_due_text",
    ),
    "staff_reply": ("ticket_number", "subject", "body", "staff_name", "desk_name"),
    "resolution": ("ticket_number", "category_label", "resolved_text", "survey_url"),
    "undeliverable_notice": ("ticket_number", "address", "status_code", "affected_ticket_numbers"),
    "reply_limit_notice": ("ticket_number", "held_ticket_numbers", "urgent", "limit_per_hour"),
    "assistant_answer": ("ticket_number", "article_title", "article_answer", "article_url"),
    "assistant_decline": ("out_of_hours", "clock_start_text", "opening_hours_text", "contacts"),
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("desk_key", DESKS)
@pytest.mark.parametrize(
    ("kind", "name"), [(kind, name) for kind, names in REQUIRED.items() for name in names]
)
def test_a_missing_variable_is_an_error(
    renderer: TemplateRenderer,
    desks: dict[str, DeskConfig],
    kind: str,
    name: str,
    desk_key: str,
    language: str,
) -> None:
    ctx = context(desk_key, desks[desk_key], kind, language)
    del ctx[name]
    with pytest.raises(RenderError, match=f"'{name}' is undefined"):
        renderer.render(kind, desk_key, language, ctx)


# --- urgent_route: certificate suspension at any hour (standard sections II and III) -----------

ALWAYS_OPEN = {
    "lv": "visu diennakti (24/7), arī brīvdienās un svētku dienās",
    "en": "24/7, including at weekends and on public holidays",
    "ru": "круглосуточно (24/7), в том числе в выходные и праздничные дни",
}
DO_NOT_WAIT = {
    "lv": "lūdzu, negaidiet atbildi uz šo vēstuli, bet rīkojieties jau tagad:",
    "en": "please do not wait for a reply to this message but do it now:",
    "ru": "пожалуйста, не ждите ответа на это письмо, а сделайте это уже сейчас:",
}
PORTAL_LINE = {
    "lv": "- portālā {}",
    "en": "- on the portal {}",
    "ru": "- на портале {}",
}
PHONE_LINE = {
    "lv": "- zvanot uz klientu apkalpošanas tālruni {} (kvalitātes kontroles nolūkos visas "
    "sarunas tiek ierakstītas).",
    "en": "- by calling the customer service line on {} (all calls are recorded for quality "
    "control).",
    "ru": "- по телефону клиентской службы {} (в целях контроля качества все разговоры "
    "записываются).",
}
FLAGGED_FOR_STAFF = {
    "lv": "Pieteikums ir atzīmēts kā steidzams un nodots mūsu darbiniekiem",
    "en": "Your request has been marked as urgent and passed to our staff",
    "ru": "Обращение отмечено как срочное и передано нашим сотрудникам",
}
URGENT_SUBJECT = {
    "lv": "[EPA-2026-000123] Sertifikāta apturēšana vai atsaukšana – visu diennakti (24/7)",
    "en": "[EPA-2026-000123] Certificate suspension or cancellation – 24/7",
    "ru": "[EPA-2026-000123] Приостановка или отзыв сертификата — круглосуточно (24/7)",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_suspension_at_three_in_the_morning_is_answered_with_the_routes(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    desk = desks["eparaksts"]
    assert desk.categories["suspension"].around_the_clock
    assert desk.categories["suspension"].reply_template == "urgent_route"
    ctx, subject, text = render(renderer, desks, "urgent_route", "eparaksts", language)

    assert subject == URGENT_SUBJECT[language]
    assert ctx["ticket_number"] in text
    assert f"[{ctx['ticket_number']}]" in text
    assert quoted(ctx["category_label"], language) in text
    assert ctx["received_text"] in text
    assert {"lv": "sestdien", "en": "Saturday", "ru": "суббота"}[language] in text
    assert "03:00" in text
    assert ALWAYS_OPEN[language] in text
    assert DO_NOT_WAIT[language] in text
    assert PORTAL_LINE[language].format("https://www.eparaksts.lv") + ";\n" in text
    assert PHONE_LINE[language].format(PHONE) + "\n" in text
    assert FLAGGED_FOR_STAFF[language] in text
    assert_clean(text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_urgent_routes_come_from_the_contacts(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    routes = {"phone": "80005555", "portal": "https://trust.example.org"}
    _, _, text = render(renderer, desks, "urgent_route", "eparaksts", language, contacts=routes)
    assert PORTAL_LINE[language].format("https://trust.example.org") + ";\n" in text
    assert PHONE_LINE[language].format("80005555") in text
    assert PHONE not in text and "eparaksts.lv" not in text

    portal_only = {"portal": "https://trust.example.org"}
    _, _, text = render(
        renderer, desks, "urgent_route", "eparaksts", language, contacts=portal_only
    )
    assert PORTAL_LINE[language].format("https://trust.example.org") + ".\n" in text
    assert PHONE_LINE[language].split("{}")[0] not in text  # no phone, no recorded-calls note
    assert_clean(text)

    _, _, text = render(renderer, desks, "urgent_route", "eparaksts", language, contacts={})
    assert ALWAYS_OPEN[language] not in text  # nothing to point to: no promise of 24/7
    assert {"lv": "steidzams", "en": "urgent", "ru": "срочное"}[language] in text
    assert_clean(text)


def test_urgent_route_whole_letter_in_russian(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig]
) -> None:
    _, _, text = render(renderer, desks, "urgent_route", "eparaksts", "ru")
    assert text == (
        "Здравствуйте!\n"
        "\n"
        "Ваше сообщение получено и зарегистрировано под номером EPA-2026-000123 в категории "
        "«Приостановка или отзыв сертификата». Время получения: суббота, 28 ноября 2026 г. "
        "в 03:00.\n"
        "\n"
        "Это можно сделать сразу, круглосуточно (24/7), в том числе в выходные и праздничные "
        "дни, поэтому, пожалуйста, не ждите ответа на это письмо, а сделайте это уже сейчас:\n"
        "- на портале https://www.eparaksts.lv;\n"
        "- по телефону клиентской службы 67108787 (в целях контроля качества все разговоры "
        "записываются).\n"
        "\n"
        "Обращение отмечено как срочное и передано нашим сотрудникам, которые также его "
        "рассмотрят.\n"
        "\n"
        "Отвечая на это письмо, пожалуйста, сохраните в теме номер [EPA-2026-000123], чтобы "
        "Ваше сообщение было добавлено к этому обращению.\n"
        "\n"
        "С уважением,\n"
        "eParaksts klientu apkalpošana\n"
        "\n"
        "Это письмо отправлено автоматически.\n"
    )


# --- refusal: terms clause 28; the standard asks for the reason and the grounds ----------------

REFUSED = {
    "lv": "Diemžēl šo pieteikumu no Jums pieņemt nevaram.",
    "en": "Unfortunately, we cannot accept this request from you.",
    "ru": "К сожалению, мы не можем принять от Вас это обращение.",
}
REASON_LEAD = {  # the reason: only a designated representative may submit this category
    "lv": "Atteikuma iemesls: kategorijas {} pieteikumus var iesniegt tikai klienta (iestādes, "
    "kas izmanto pakalpojumu) norīkotais pārstāvis",
    "en": "Reason: requests in the category {} may only be submitted by a designated "
    "representative of the client (the institution that uses the service)",
    "ru": "Причина отказа: обращения категории {} может подавать только назначенный "
    "представитель клиента (учреждения, которое пользуется услугой)",
}
GROUNDS_LEAD = {
    "lv": "Atteikuma pamatojums: ",
    "en": "Grounds: ",
    "ru": "Основание для отказа: ",
}
NOT_ON_LIST = {
    "lv": "bet Jūsu adrese nav norādīta mūsu rīcībā esošajā iestādes „Example municipality” "
    "norīkoto pārstāvju sarakstā.",
    "en": "and your address is not on our list of designated representatives of Example "
    "municipality.",
    "ru": "а Ваш адрес не указан в имеющемся у нас списке назначенных представителей "
    "учреждения «Example municipality».",
}
NO_CLIENT = {
    "lv": "bet mūsu rīcībā nav ziņu, ka Jūsu adrese būtu norādīta kāda klienta norīkoto "
    "pārstāvju sarakstā.",
    "en": "and we have no record of your address on any client's list of designated "
    "representatives.",
    "ru": "а по имеющимся у нас сведениям Ваш адрес не указан в списке назначенных "
    "представителей ни одного клиента.",
}
ONE_REPRESENTATIVE = {
    "lv": "Šo pieteikumu var iesniegt Jūsu iestādes norīkotais pārstāvis {}.",
    "en": "This request can be submitted by your institution's designated representative, {}.",
    "ru": "Подать это обращение может назначенный представитель Вашего учреждения {}.",
}
SEVERAL_REPRESENTATIVES = {
    "lv": "Šo pieteikumu var iesniegt kāds no Jūsu iestādes norīkotajiem pārstāvjiem: {}.",
    "en": "This request can be submitted by one of your institution's designated "
    "representatives: {}.",
    "ru": "Подать это обращение может один из назначенных представителей Вашего учреждения: {}.",
}
UNKNOWN_REPRESENTATIVE = {
    "lv": "Šo pieteikumu var iesniegt Jūsu iestādes norīkotais pārstāvis. Lūdzu, vērsieties "
    "pie viņa.",
    "en": "This request can be submitted by your institution's designated representative. "
    "Please forward it to them.",
    "ru": "Подать это обращение может назначенный представитель Вашего учреждения. "
    "Пожалуйста, обратитесь к нему.",
}
ANYONE_MAY = {  # the categories any user may submit (clause 28), as the example config has them
    "lv": "Pieteikumus kategorijās „Avārija”, „Nopietna kļūda” un „Kļūda” mums var iesniegt "
    "jebkurš lietotājs, arī Jūs.",
    "en": 'Any user, including you, may submit requests in the categories "Emergency", '
    '"Serious error" and "Error" directly to us.',
    "ru": "Обращения категорий «Авария», «Серьёзная ошибка» и «Ошибка» может подавать нам "
    "любой пользователь, в том числе Вы.",
}
KEPT = {
    "lv": "Jūsu vēstule ir saglabāta, un mūsu darbinieki to var izskatīt.",
    "en": "Your message has been kept, and our staff may still review it.",
    "ru": "Ваше сообщение сохранено, и наши сотрудники могут его рассмотреть.",
}
REFUSAL_SUBJECT = {
    "lv": "[MUN-2026-000123] Pieteikums nav pieņemts: Neizdodas saglabāt dokumentu",
    "en": "[MUN-2026-000123] Request not accepted: Neizdodas saglabāt dokumentu",
    "ru": "[MUN-2026-000123] Обращение не принято: Neizdodas saglabāt dokumentu",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_refusal_states_reason_grounds_and_who_can_submit(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    assert desks["municipal"].categories["consultation"].submitted_by == "representative"
    ctx, subject, text = render(renderer, desks, "refusal", "municipal", language)

    assert subject == REFUSAL_SUBJECT[language]
    assert ctx["ticket_number"] in text
    assert REFUSED[language] in text
    label = quoted(ctx["category_label"], language)
    assert REASON_LEAD[language].format(label) + ", " + NOT_ON_LIST[language] + "\n" in text
    assert GROUNDS_LEAD[language] + GROUNDS[language] + ".\n" in text
    assert ONE_REPRESENTATIVE[language].format("it.nodala@novads.example.lv") in text
    assert ANYONE_MAY[language] in text
    assert KEPT[language] in text
    assert f"[{ctx['ticket_number']}]" in text
    assert_clean(text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_refusal_without_known_client_or_representatives(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    _, _, text = render(
        renderer, desks, "refusal", "municipal", language, client_name=None, representatives=[]
    )
    assert NO_CLIENT[language] in text
    assert UNKNOWN_REPRESENTATIVE[language] in text
    assert "Example municipality" not in text
    assert_clean(text)

    several = ["Jānis Bērziņš", "it.nodala@novads.example.lv"]
    _, _, text = render(renderer, desks, "refusal", "municipal", language, representatives=several)
    assert (
        SEVERAL_REPRESENTATIVES[language].format("Jānis Bērziņš, it.nodala@novads.example.lv")
        in text
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_refusal_grounds_and_allowed_categories_follow_the_context(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    _, _, text = render(
        renderer,
        desks,
        "refusal",
        "municipal",
        language,
        grounds_text="§ 7 of a local agreement",
        allowed_category_labels=["Only this"],
    )
    assert GROUNDS_LEAD[language] + "§ 7 of a local agreement." in text
    assert GROUNDS[language] not in text
    assert {
        "lv": "Pieteikumus kategorijā „Only this” mums var iesniegt",
        "en": 'may submit requests in the category "Only this" directly to us.',
        "ru": "Обращения категории «Only this» может подавать",
    }[language] in text

    _, _, text = render(
        renderer, desks, "refusal", "municipal", language, allowed_category_labels=[]
    )
    assert ANYONE_MAY[language][:12] not in text
    assert_clean(text)


def test_refusal_whole_letter_in_latvian(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig]
) -> None:
    _, _, text = render(renderer, desks, "refusal", "municipal", "lv")
    assert text == (
        "Labdien!\n"
        "\n"
        "Paldies par Jūsu vēstuli. Tā ir reģistrēta ar pieteikuma numuru MUN-2026-000123 "
        "kategorijā „Konsultācija”.\n"
        "\n"
        "Diemžēl šo pieteikumu no Jums pieņemt nevaram.\n"
        "\n"
        "Atteikuma iemesls: kategorijas „Konsultācija” pieteikumus var iesniegt tikai klienta "
        "(iestādes, kas izmanto pakalpojumu) norīkotais pārstāvis, bet Jūsu adrese nav "
        "norādīta mūsu rīcībā esošajā iestādes „Example municipality” norīkoto pārstāvju "
        "sarakstā.\n"
        "Atteikuma pamatojums: Vienotās pašvaldību sistēmas uzturēšanas noteikumu 28. punkts.\n"
        "\n"
        "Šo pieteikumu var iesniegt Jūsu iestādes norīkotais pārstāvis "
        "it.nodala@novads.example.lv. Lūdzu, pārsūtiet to šim pārstāvim.\n"
        "Pieteikumus kategorijās „Avārija”, „Nopietna kļūda” un „Kļūda” mums var iesniegt "
        "jebkurš lietotājs, arī Jūs.\n"
        "\n"
        "Jūsu vēstule ir saglabāta, un mūsu darbinieki to var izskatīt. Ja uzskatāt, ka "
        "pieteikums klasificēts kļūdaini vai ka Jums ir tiesības iesniegt šādus pieteikumus, "
        "lūdzu, atbildiet uz šo vēstuli, saglabājot temata rindā pieteikuma numuru "
        "[MUN-2026-000123].\n"
        "\n"
        "Ar cieņu\n"
        "Vienotās pašvaldību sistēmas lietotāju atbalsts\n"
        "\n"
        "Šī vēstule ir nosūtīta automātiski.\n"
    )


# --- recategorisation: terms clause 33 ---------------------------------------------------------

CHANGED = {
    "lv": "esam mainījuši tā kategoriju no {} uz {}.",
    "en": "we have changed its category from {} to {}.",
    "ru": "мы изменили его категорию с {} на {}.",
}
REASON_HEADER = {
    "lv": "Kategorijas maiņas iemesls:",
    "en": "Reason for the change:",
    "ru": "Причина изменения категории:",
}
NEW_RESPONSE = {
    "lv": "Atbilstoši jaunajai kategorijai atbildi Jums sniegsim ne vēlāk kā ",
    "en": "Under the new category, we will reply by ",
    "ru": "Срок ответа с учётом новой категории: ",
}
NEW_RESOLUTION = {
    "lv": "Pieteikuma izpildes termiņš tagad ir ne vēlāk kā ",
    "en": "The deadline for resolving your request is now ",
    "ru": "Срок выполнения обращения: ",
}
NO_NEW_TARGET = {
    "lv": "Jaunajai kategorijai nav noteikta atbildes termiņa",
    "en": "There is no set response time for the new category",
    "ru": "Для новой категории срок ответа не установлен",
}
SIGN_OFF = {"lv": "Ar cieņu\n", "en": "Kind regards,\n", "ru": "С уважением,\n"}


@pytest.mark.parametrize("desk_key", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_recategorisation_gives_both_categories_reason_and_new_due_times(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_key: str, language: str
) -> None:
    ctx, subject, text = render(renderer, desks, "recategorisation", desk_key, language)
    old = quoted(ctx["old_category_label"], language)
    new = quoted(ctx["new_category_label"], language)

    assert subject.startswith(f"[{ctx['ticket_number']}] ")
    assert subject.endswith(": " + SUBJECT)
    assert ctx["ticket_number"] in text
    assert CHANGED[language].format(old, new) in text
    assert f"\n\n{REASON_HEADER[language]}\n{REASON}\n\n" in text  # the staff's words, verbatim
    assert NEW_RESPONSE[language] + ctx["response_due_text"] + "." in text
    assert NEW_RESOLUTION[language] + ctx["resolution_due_text"] + "." in text
    assert text.endswith(f"{SIGN_OFF[language]}Anna Kalniņa\n{desks[desk_key].name}\n")
    assert_clean(text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_recategorisation_without_or_with_one_due_time(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    _, _, text = render(
        renderer,
        desks,
        "recategorisation",
        "municipal",
        language,
        response_due_text=None,
        resolution_due_text=None,
    )
    assert NO_NEW_TARGET[language] in text
    assert NEW_RESPONSE[language] not in text and NEW_RESOLUTION[language] not in text
    assert_clean(text)

    due = local(RESPONSE_DUE, language)
    _, _, text = render(
        renderer,
        desks,
        "recategorisation",
        "eparaksts",
        language,
        response_due_text=due,
        resolution_due_text=due,
    )
    assert text.count(due) == 1  # the same instant is said once
    assert NO_NEW_TARGET[language] not in text

    _, _, text = render(
        renderer,
        desks,
        "recategorisation",
        "municipal",
        language,
        response_due_text=None,
        staff_name=None,
    )
    assert NEW_RESOLUTION[language] + local(RESOLUTION_DUE, language) in text
    assert NO_NEW_TARGET[language] not in text
    assert text.endswith(f"{SIGN_OFF[language]}{desks['municipal'].name}\n")


# --- staff_reply: the staff member's text, verbatim ---------------------------------------------

REFERENCE = {
    "lv": "Pieteikuma numurs: {0}. Atbildot, lūdzu, saglabājiet temata rindā [{0}].",
    "en": "Reference number: {0}. When replying, please keep [{0}] in the subject line.",
    "ru": "Номер обращения: {0}. Отвечая, пожалуйста, сохраните в теме номер [{0}].",
}
NO_SUBJECT = {"lv": "Jūsu pieteikums", "en": "Your request", "ru": "Ваше обращение"}


@pytest.mark.parametrize("desk_key", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_staff_reply_wraps_the_text_verbatim(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_key: str, language: str
) -> None:
    ctx, subject, text = render(
        renderer, desks, "staff_reply", desk_key, language, subject="AW: Re: " + SUBJECT
    )
    ticket = ctx["ticket_number"]
    assert subject == f"[{ticket}] Re: {SUBJECT}"
    # Exactly as typed: indentation, quotes and braces are the staff member's, not Jinja's.
    assert text.startswith(BODY + "\n\n")
    assert (
        f"{SIGN_OFF[language]}Jānis Ozols\n{desks[desk_key].name}\n\n"
        + REFERENCE[language].format(ticket)
        + "\n"
    ) in text
    assert text.endswith(REFERENCE[language].format(ticket) + "\n")


@pytest.mark.parametrize("language", LANGUAGES)
def test_staff_reply_subject_when_the_person_gave_none(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    _, subject, _ = render(renderer, desks, "staff_reply", "municipal", language, subject="Re:")
    assert subject == f"[MUN-2026-000123] Re: {NO_SUBJECT[language]}"


def test_staff_reply_whole_letter_in_english(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig]
) -> None:
    body = "Hello Anna,\n\nThe export works again; please try once more.\n\nBest wishes,\nJohn"
    _, subject, text = render(
        renderer, desks, "staff_reply", "municipal", "en", body=body, staff_name="John Smith"
    )
    assert subject == "[MUN-2026-000123] Re: Neizdodas saglabāt dokumentu"
    assert text == (
        "Hello Anna,\n"
        "\n"
        "The export works again; please try once more.\n"
        "\n"
        "Best wishes,\n"
        "John\n"
        "\n"
        "Kind regards,\n"
        "John Smith\n"
        "Vienotās pašvaldību sistēmas lietotāju atbalsts\n"
        "\n"
        "Reference number: MUN-2026-000123. When replying, please keep [MUN-2026-000123] in "
        "the subject line.\n"
    )


# --- resolution: standard section IV, the satisfaction survey -----------------------------------

RESOLVED_LEAD = {
    "lv": "ir izpildīts ",
    "en": "was resolved on ",
    "ru": "выполнено. Дата и время выполнения: ",
}
SURVEY_LEAD = {
    "lv": "novērtējiet, cik apmierināti esat ar mūsu pakalpojumu un apkalpošanu:\n",
    "en": "tell us how satisfied you are with our service:\n",
    "ru": "оцените, насколько Вы довольны нашими услугами и обслуживанием:\n",
}
REOPEN = {
    "lv": "un mēs pieteikumu izskatīsim atkārtoti.",
    "en": "and we will look into it again.",
    "ru": "и мы рассмотрим обращение повторно.",
}


@pytest.mark.parametrize("desk_key", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_resolution_invites_to_the_survey(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_key: str, language: str
) -> None:
    ctx, subject, text = render(renderer, desks, "resolution", desk_key, language)
    survey = desks[desk_key].contacts["survey_url"]
    assert ctx["survey_url"] == survey
    assert subject.startswith(f"[{ctx['ticket_number']}] ")
    assert ctx["ticket_number"] in text
    assert quoted(ctx["category_label"], language) in text
    assert RESOLVED_LEAD[language] + ctx["resolved_text"] + "." in text
    assert SURVEY_LEAD[language] + survey + "\n" in text
    assert REOPEN[language] in text
    assert f"[{ctx['ticket_number']}]" in text
    assert_clean(text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_resolution_without_a_survey_has_no_survey_sentence(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    for survey in (None, ""):
        _, _, text = render(renderer, desks, "resolution", "eparaksts", language, survey_url=survey)
        assert SURVEY_LEAD[language].rstrip() not in text
        assert "aptauja" not in text and "http" not in text
        assert REOPEN[language] in text
        assert_clean(text)

    _, _, text = render(
        renderer,
        desks,
        "resolution",
        "eparaksts",
        language,
        survey_url="https://survey.example.org/q?id=7",
    )
    assert SURVEY_LEAD[language] + "https://survey.example.org/q?id=7\n" in text


# --- undeliverable_notice: for staff -------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_undeliverable_notice_names_address_status_and_tickets(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    ctx, subject, text = render(renderer, desks, "undeliverable_notice", "municipal", language)
    assert (
        subject
        == f"[{ctx['ticket_number']}] "
        + {
            "lv": "Nesasniedzama adrese: ",
            "en": "Undeliverable address: ",
            "ru": "Адрес недоступен: ",
        }[language]
        + ctx["address"]
    )
    assert ctx["address"] in text
    assert " 5.1.1)" in text and ctx["ticket_number"] in text
    assert f"triage address clear {ctx['address']}\n" in text
    assert "\n- MUN-2026-000123\n- MUN-2026-000140\n" in text
    what_to_do = {
        "lv": ("pārbaudiet, vai adrese pieteikumos ir pareiza", "pa tālruni"),
        "en": ("check that the address in the tickets is correct", "by phone"),
        "ru": ("проверьте, правильно ли указан адрес в обращениях", "по телефону"),
    }[language]
    for words in what_to_do:
        assert words in text
    assert_clean(text)

    _, _, text = render(
        renderer,
        desks,
        "undeliverable_notice",
        "municipal",
        language,
        affected_ticket_numbers=["MUN-2026-000999"],
    )
    assert "\n- MUN-2026-000999\n" in text
    assert {"lv": "Skartais pieteikums:", "en": "Affected ticket:", "ru": "Затронутое обращение:"}[
        language
    ] in text


# --- reply_limit_notice: for staff, when the desk-wide limits hold first replies ---------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_reply_limit_notice_lists_held_tickets_or_asks_to_call_at_once(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    ctx, subject, text = render(renderer, desks, "reply_limit_notice", "municipal", language)
    assert "\n- MUN-2026-000123\n- MUN-2026-000124\n" in text
    assert "30" in text and "300" in text
    assert_clean(text)
    ctx, subject, text = render(
        renderer, desks, "reply_limit_notice", "eparaksts", language, urgent=True
    )
    assert {"lv": "STEIDZAMI", "en": "URGENT", "ru": "СРОЧНО"}[language] in subject
    assert ctx["category_label"] in text and ctx["ticket_number"] in text
    assert "MUN-2026-000124" not in text
    assert_clean(text)


# --- assistant_answer and assistant_decline: the chat ------------------------------------------

DID_IT_HELP = {
    "lv": "Vai tas palīdzēja? Atbildiet „jā” vai „nē”.",
    "en": "Did this help? Reply yes or no.",
    "ru": "Это помогло? Ответьте «да» или «нет».",
}
MORE = {"lv": "Vairāk informācijas: ", "en": "More information: ", "ru": "Подробнее: "}


@pytest.mark.parametrize("desk_key", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_assistant_answer_asks_whether_it_helped(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_key: str, language: str
) -> None:
    ctx, subject, text = render(renderer, desks, "assistant_answer", desk_key, language)
    assert subject == f"[{ctx['ticket_number']}] Paroles atjaunošana"
    assert text == (
        "Paroles atjaunošana\n"
        "\n"
        "Atveriet pieteikšanās lapu.\nNospiediet „Aizmirsu paroli”.\n"
        "\n"
        f"{MORE[language]}https://kb.example.lv/parole\n"
        "\n"
        f"{DID_IT_HELP[language]}\n"
    )
    _, _, text = render(renderer, desks, "assistant_answer", desk_key, language, article_url=None)
    assert MORE[language] not in text
    assert text.endswith("„Aizmirsu paroli”.\n\n" + DID_IT_HELP[language] + "\n")


DONT_KNOW = {
    "lv": "Diemžēl es nezinu atbildi uz šo jautājumu, tāpēc nodevu to mūsu darbiniekiem.",
    "en": "I'm sorry, I don't know the answer to this question, so I have passed it on to our "
    "staff.",
    "ru": "К сожалению, я не знаю ответа на этот вопрос, поэтому передал его нашим сотрудникам.",
}
WHEN_OPEN = {
    "lv": "tāpēc darbinieks Jūsu jautājumu sāks izskatīt darba dienas sākumā – ",
    "en": "so a member of staff will take up your question when we open on ",
    "ru": "поэтому сотрудник займётся Вашим вопросом с началом рабочего дня — ",
}
SOON = {
    "lv": "Mūsu darbinieks Jums drīzumā atbildēs.",
    "en": "A member of staff will reply to you soon.",
    "ru": "Наш сотрудник скоро Вам ответит.",
}
EMERGENCY_ROUTE = {
    "lv": "Avārijas un nopietnas kļūdas var pieteikt arī pa tālruni {}.",
    "en": "Emergencies and serious errors can also be reported by phone on {}.",
    "ru": "Об аварии или серьёзной ошибке можно также сообщить по телефону {}.",
}
SUSPENSION_ROUTE = {
    "lv": "Ja nepieciešams apturēt vai atsaukt sertifikātu, nav jāgaida: to var izdarīt visu "
    "diennakti (24/7) portālā {} vai pa klientu apkalpošanas tālruni {}.",
    "en": "If you need to suspend or cancel a certificate, you do not have to wait: this can be "
    "done 24/7 on the portal {} or by calling customer service on {}.",
    "ru": "Если необходимо приостановить или отозвать сертификат, ждать не нужно: это можно "
    "сделать круглосуточно (24/7) на портале {} или по телефону клиентской службы {}.",
}


@pytest.mark.parametrize("desk_key", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_assistant_decline_out_of_hours_says_when_a_person_answers(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_key: str, language: str
) -> None:
    ctx, _, text = render(renderer, desks, "assistant_decline", desk_key, language)
    assert DONT_KNOW[language] in text
    assert ctx["ticket_number"] in text
    assert ctx["opening_hours_text"] in text
    assert WHEN_OPEN[language] + ctx["clock_start_text"] + "." in text
    assert SOON[language] not in text
    if desk_key == "eparaksts":
        assert SUSPENSION_ROUTE[language].format("https://www.eparaksts.lv", PHONE) in text
        assert EMERGENCY_PHONE not in text
    else:
        assert EMERGENCY_ROUTE[language].format(EMERGENCY_PHONE) in text
        assert PHONE not in text
    assert_clean(text)


@pytest.mark.parametrize("desk_key", DESKS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_assistant_decline_in_hours_says_soon(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], desk_key: str, language: str
) -> None:
    ctx, _, text = render(
        renderer, desks, "assistant_decline", desk_key, language, out_of_hours=False
    )
    assert SOON[language] in text
    assert ctx["clock_start_text"] not in text
    assert_clean(text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_assistant_decline_routes_come_from_the_contacts(
    renderer: TemplateRenderer, desks: dict[str, DeskConfig], language: str
) -> None:
    routes = {"phone": "80005555", "portal": "https://trust.example.org"}
    _, _, text = render(
        renderer, desks, "assistant_decline", "eparaksts", language, contacts=routes
    )
    assert SUSPENSION_ROUTE[language].format("https://trust.example.org", "80005555") in text
    _, _, text = render(
        renderer,
        desks,
        "assistant_decline",
        "municipal",
        language,
        contacts={"emergency_phone": "+371 20000000"},
    )
    assert EMERGENCY_ROUTE[language].format("+371 20000000") in text
    for desk_key in DESKS:
        _, _, text = render(renderer, desks, "assistant_decline", desk_key, language, contacts={})
        assert "24/7" not in text and "+371" not in text and PHONE not in text
        assert_clean(text)


# --- The list filter ----------------------------------------------------------------------------


def test_join_words() -> None:
    assert join_words([], "un") == ""
    assert join_words(["A"], "un", "„", "”") == "„A”"
    assert join_words(["A", "B"], "and", '"', '"') == '"A" and "B"'
    assert join_words(["A", "B", "C"], "и", "«", "»") == "«A», «B» и «C»"
