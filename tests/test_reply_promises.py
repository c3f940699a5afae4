"""What a reply promises must be what happens (issue 16, item 8).

A feedback acknowledgement on a desk with no response target for feedback must not promise a
staff reply; the notice after staff override a refusal must say the refusal is withdrawn and
what happens now, not repeat the acknowledgement ("provisional", "arrived out of hours").
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import EXAMPLE_CONFIG
from tests.helpers import make_mail
from tests.test_render import ARTICLES, NO_ARTICLE, context
from tests.test_responders import outbox, world  # noqa: F401  (world is a fixture)
from triage_desk.clock import FixedClock
from triage_desk.config import load_config
from triage_desk.desk_service.actions import StaffActions
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.responders.email_sender import build_email
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.models import Ticket, TicketStatus

LANGUAGES = ("lv", "en", "ru")
UTC = dt.UTC
SUNDAY_0300 = dt.datetime(2026, 11, 29, 1, 0, tzinfo=UTC)
MONDAY_1100 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
TUESDAY_1100 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

WHAT_HAPPENS = {
    "lv": "Atsevišķu atbildi uz atsauksmēm nesūtām: ar Jums sazināsimies tikai tad, ja kaut kas "
    "būs jāprecizē.",
    "en": "Feedback gets no separate reply: we will write to you only if something in it needs "
    "clarifying.",
    "ru": "Отдельного ответа на отзывы мы не отправляем: мы свяжемся с Вами, только если что-то "
    "потребуется уточнить.",
}
PROMISES = {  # sentences that promise a reply or speak of a response time
    "lv": (
        "atbildēs mūsu darbinieks",
        "Kamēr gaidāt atbildi",
        "atbildes termiņa",
        "ievietots rindā",
    ),
    "en": ("a member of staff will reply", "While you wait", "response time", "in our queue"),
    "ru": ("ответит наш сотрудник", "Пока Вы ждёте ответа", "срок ответа", "в очередь"),
}


@pytest.mark.parametrize("articles", [[], ARTICLES], ids=["no-articles", "articles"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_feedback_without_a_target_promises_no_reply(language, articles):
    desk = load_config(EXAMPLE_CONFIG).desks["municipal"]
    assert desk.categories["feedback"].response is None
    ctx = context(
        desk,
        "feedback",
        language,
        out_of_hours=True,
        feedback_type="praise",
        response_due=None,
        articles=articles,
    )
    text = TemplateRenderer().render("acknowledgement", "municipal", language, ctx).text
    assert WHAT_HAPPENS[language] in text
    assert NO_ARTICLE[language] not in text
    for promise in PROMISES[language]:
        assert promise.lower() not in text.lower(), promise
    assert ("https://kb.example.lv/parole" in text) is bool(articles)


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_request_still_gets_its_promise(language):
    desk = load_config(EXAMPLE_CONFIG).desks["municipal"]
    ctx = context(desk, "consultation", language, out_of_hours=True, articles=[])
    text = TemplateRenderer().render("acknowledgement", "municipal", language, ctx).text
    assert NO_ARTICLE[language] in text and WHAT_HAPPENS[language] not in text


WITHDRAWN = {
    "lv": "Mūsu darbinieki pieteikumu ir izskatījuši un šo atteikumu atsaukuši: pieteikums ir "
    "pieņemts kategorijā „Konsultācija”",
    "en": "Our staff have reviewed it and withdrawn that refusal: your request has been accepted "
    'in the category "Consultation"',
    "ru": "Наши сотрудники рассмотрели его и отменили этот отказ: обращение принято в категории "
    "«Консультация»",
}
DUE = {  # Sunday 03:00 + 8 business hours from Monday 09:00 = Monday 17:00
    "lv": "Atbildi Jums sniegsim ne vēlāk kā pirmdien, 2026. gada 30. novembrī plkst. 17:00.",
    "en": "We will reply by",
    "ru": "Срок ответа:",
}
SORRY = {
    "lv": "Atvainojamies par kavēšanos.",
    "en": "We are sorry for the delay.",
    "ru": "Приносим извинения за задержку.",
}
ACKNOWLEDGEMENT_WORDS = {  # what the acknowledgement said instead
    "lv": ("iepriekšēja klasifikācija", "ārpus darba laika"),
    "en": ("preliminary classification", "outside our working hours"),
    "ru": ("предварительная классификация", "в нерабочее время"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_overriding_a_refusal_tells_the_person_it_is_withdrawn(world, language):  # noqa: F811
    sessions, desks, pipeline = world
    mail = make_mail(sender="peteris@ogre.example.lv", subject="Kā izveidot atskaiti?")
    result = pipeline("consultation", SUNDAY_0300, language=language).process(
        inbound_from_email(mail, "municipal", SUNDAY_0300)
    )
    done = StaffActions(sessions, desks, TemplateRenderer(), clock=FixedClock(MONDAY_1100)).confirm(
        result.ticket_number, "janis", "Vadītāja atļāva"
    )
    assert done.outbox_kind == "refusal_withdrawn"
    refusal, notice = outbox(sessions)
    assert (refusal.kind, notice.kind) == ("refusal", "refusal_withdrawn")
    assert result.ticket_number in notice.subject
    assert WITHDRAWN[language] in notice.body_text
    assert DUE[language] in notice.body_text and SORRY[language] not in notice.body_text
    for words in ACKNOWLEDGEMENT_WORDS[language]:
        assert words not in notice.body_text
    with sessions() as session:
        assert session.get(Ticket, result.ticket_id).status == TicketStatus.OPEN


def test_an_override_after_the_due_time_apologises_instead_of_a_past_date(world):  # noqa: F811
    sessions, desks, pipeline = world
    mail = make_mail(sender="peteris@ogre.example.lv", subject="Kā izveidot atskaiti?")
    result = pipeline("consultation", SUNDAY_0300).process(
        inbound_from_email(mail, "municipal", SUNDAY_0300)
    )
    StaffActions(sessions, desks, TemplateRenderer(), clock=FixedClock(TUESDAY_1100)).confirm(
        result.ticket_number, "janis"
    )
    notice = outbox(sessions)[-1]
    assert SORRY["lv"] in notice.body_text and "30. novembrī" not in notice.body_text


def _one_reply(world, staff_names=None):  # type: ignore[no-untyped-def]  # noqa: F811
    sessions, desks, pipeline = world
    mail = make_mail(sender="it.vaditajs@ogre.example.lv", subject="Atskaite")
    result = pipeline("error", MONDAY_1100, language="en").process(
        inbound_from_email(mail, "municipal", MONDAY_1100)
    )
    actions = StaffActions(
        sessions,
        desks,
        TemplateRenderer(),
        clock=FixedClock(MONDAY_1100),
        staff_names=staff_names,
    )
    actions.reply(result.ticket_number, "Fixed, please try again.", "jberzins")
    actions.change_category(result.ticket_number, "consultation", "It is a question.", "jberzins")
    ack, reply, notice = outbox(sessions)
    return ack, reply, notice, desks["municipal"].config.name


def test_a_staff_reply_is_not_marked_automatic_but_our_notices_are(world):  # noqa: F811
    ack, reply, notice, _ = _one_reply(world)
    assert "Auto-Submitted" not in build_email(reply)  # RFC 3834: a person wrote it
    assert "X-Auto-Response-Suppress" not in build_email(reply)
    assert build_email(reply)["In-Reply-To"].startswith("<")  # still threaded
    for automatic in (ack, notice):
        assert build_email(automatic)["Auto-Submitted"] == "auto-replied"
        assert build_email(automatic)["X-Auto-Response-Suppress"] == "All"


def test_customers_never_see_a_staff_login(world):  # noqa: F811
    _, reply, notice, desk_name = _one_reply(world)
    for item in (reply, notice):
        assert "jberzins" not in item.body_text
        assert f"Kind regards,\n{desk_name}\n" in item.body_text  # the desk signs


def test_a_configured_display_name_signs_the_reply(world):  # noqa: F811
    _, reply, notice, desk_name = _one_reply(world, {"jberzins": "Jānis Bērziņš"})
    for item in (reply, notice):
        assert f"Kind regards,\nJānis Bērziņš\n{desk_name}\n" in item.body_text
        assert "jberzins" not in item.body_text
