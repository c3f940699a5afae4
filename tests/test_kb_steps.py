"""Knowledge-base suggestions carry the steps a lead-in promises.

The password-reset article says "…a password is normally reset inside your own
organisation:" and then lists steps 1–3. The acknowledgement used to quote only that lead-in
(the first paragraph) and the link: the person got a colon and no steps.
"""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLE_CONFIG
from tests.test_render import context
from triage_desk.config import load_config
from triage_desk.responders.assistant import Assistant, KnowledgeBase, first_paragraph
from triage_desk.responders.render import TemplateRenderer

QUESTIONS = {
    "lv": "Aizmirsu paroli, kā to atjaunot?",
    "en": "I forgot my password, how do I reset it?",
    "ru": "Забыл пароль, как его восстановить?",
}
STEP_ONE = {
    "lv": '1. Ja pieslēgšanās lapā ir iespēja "aizmirsu paroli"',
    "en": '1. If the login page offers a "forgotten password" option',
    "ru": "1. Если на странице входа есть функция «забыли пароль»",
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.load()


@pytest.mark.parametrize("language", ["lv", "en", "ru"])
def test_the_password_reset_suggestion_includes_its_steps(kb, language):
    matches = Assistant(kb).answer(QUESTIONS[language], "municipal", language)
    found = next(m for m in matches if m.slug == "password-reset")
    lines = found.summary.splitlines()
    assert lines[0].endswith(":")
    assert [line[:3] for line in lines[1:]] == ["1. ", "2. ", "3. "]
    assert lines[1].startswith(STEP_ONE[language])

    desk = load_config(EXAMPLE_CONFIG).desks["municipal"]
    article = {"title": found.title, "summary": found.summary, "url": found.url}
    ctx = context(desk, "consultation", language, out_of_hours=True, articles=[article])
    text = TemplateRenderer().render("acknowledgement", "municipal", language, ctx).text
    for line in lines:
        assert f"\n  {line}\n" in text  # each step on its own line inside the list item


def test_every_lead_in_that_ends_with_a_colon_brings_its_list(kb):
    checked = 0
    for desk in kb.desks():
        for article in kb.for_desk(desk):
            if not first_paragraph(article.body).endswith(":"):
                assert "\n" not in article.summary, article.path
                continue
            checked += 1
            lines = article.summary.splitlines()
            assert len(lines) >= 3, article.path
            items = lines[1:]
            assert all(
                line[:2] in ("- ", "* ", "| ") or line.split(" ")[0][:-1].isdigit()
                for line in items
            ), article.path
            assert not any(set(line) <= set("|-: ") for line in items), article.path
    assert checked == 18  # the articles whose lead-in ends with a colon, all languages
