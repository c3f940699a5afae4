"""The intake steps as a list (intake/steps/): their order, each one small with one concern,
and the reply policy and email sender they rely on, tested on their own."""

from __future__ import annotations

import datetime as dt
import inspect
from collections import Counter
from pathlib import Path

import pytest

from triage_desk.config import EmailConfig
from triage_desk.desks import Desks
from triage_desk.intake import steps
from triage_desk.intake.message import Bounce, InboundMessage, Vouch
from triage_desk.intake.reply_policy import Author, ReplyBudget, ReplyPolicy
from triage_desk.intake.steps.batch import Batch
from triage_desk.responders.email_sender import build_email
from triage_desk.storage.models import OutboxItem

NOW = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)
ORDER = [
    "deduplicate",
    "thread",
    "identify_requester",
    "open_ticket",
    "check_rights",
    "insert_tickets",
    "record_message",
    "follow_up",
    "record_bounces",
    "flag_origin",
    "decide_reply",
    "queue_first_reply",
    "alert_held",
    "write_rows",
]
MAX_STEP_LINES = 150


def test_the_steps_run_in_this_order():
    assert [step.__name__ for step in steps.STEPS] == ORDER


@pytest.mark.parametrize("step", steps.STEPS, ids=lambda s: s.__name__)
def test_each_step_is_one_small_module_taking_the_batch(step):
    module = inspect.getmodule(step)
    assert module is not None and module.__name__ == f"triage_desk.intake.steps.{step.__name__}"
    lines = Path(inspect.getfile(step)).read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_STEP_LINES, f"{step.__name__} has {lines} lines"
    [parameter] = inspect.signature(step).parameters.values()
    assert inspect.signature(step).return_annotation in ("None", None)
    assert parameter.annotation in ("Batch", Batch)


def test_the_step_list_fits_on_one_screen():
    source = Path(steps.__file__).read_text(encoding="utf-8")
    start = source.index("STEPS: tuple")
    assert source[start:].count("\n") <= 20


def _inbound(**changes: object) -> InboundMessage:
    values: dict[str, object] = {
        "channel": "email",
        "external_id": "1@novads.example.lv",
        "desk": "municipal",
        "sender": "ilze@novads.example.lv",
        "sender_name": None,
        "subject": "Palīdzība",
        "text": "Nevaru pieslēgties.",
        "new_text": "Nevaru pieslēgties.",
        "received_at": NOW,
    }
    return InboundMessage(**{**values, **changes})  # type: ignore[arg-type]


@pytest.fixture
def policy(example_config):
    rules = EmailConfig(
        staff_addresses=["janis@example.lv"],
        trusted_authserv_ids=["mx.example.lv"],
        acknowledgements_per_sender_per_hour=2,
        automatic_replies_per_desk_per_minute=5,
    )
    return ReplyPolicy(Desks(example_config), rules)


def _budget(sender: int = 0, minute: int = 0) -> ReplyBudget:
    return ReplyBudget(
        Counter({"ilze@novads.example.lv": sender}), Counter({"municipal": minute}), Counter()
    )


def _decide(policy: ReplyPolicy, inbound: InboundMessage, **changes: object):
    facts: dict[str, object] = {
        "opened_ticket": True,
        "undeliverable": False,
        "urgent": False,
        "now": NOW,
        "budget": _budget(),
        "quotes_our_reply": lambda: False,
    }
    return policy.decide(inbound, policy.author(inbound), **{**facts, **changes})  # type: ignore[arg-type]


def test_staff_is_proven_only_by_a_trusted_authority_for_the_address_domain(policy):
    claimed = _inbound(sender="janis@example.lv")
    assert policy.author(claimed) == Author("person", staff_unproven=True)
    by_stranger = _inbound(sender="janis@example.lv", vouches=(Vouch("mx.evil", "example.lv"),))
    assert policy.author(by_stranger).staff_unproven
    proven = _inbound(sender="janis@example.lv", vouches=(Vouch("mx.example.lv", "example.lv"),))
    assert policy.author(proven) == Author("staff")
    robot = _inbound(sender="janis@example.lv", no_reply_reason="auto-reply")
    assert policy.author(robot).kind == "robot"


def test_the_reply_decision_gives_the_first_reason_in_order(policy):
    person = _inbound()
    assert _decide(policy, person).reply
    assert _decide(policy, person, opened_ticket=False).reason == "follow-up to an open ticket"
    robot = _inbound(no_reply_reason="auto-reply (Auto-Submitted: auto-replied)")
    assert _decide(policy, robot, undeliverable=True).reason == robot.no_reply_reason
    bounce = _inbound(bounce=Bounce(True, ("x@y.lv",)))
    assert _decide(policy, bounce).reason == "bounce"
    ours = _inbound(sender="atbalsts+x@example.lv")
    assert _decide(policy, ours).reason == "sender is one of our own addresses"
    staff_box = _inbound(sender="atbalsts-komanda@example.lv")
    assert _decide(policy, staff_box).reason == "sender is a desk's staff notice mailbox"
    word = _inbound(sender="nobody", replyable=False)
    assert _decide(policy, word).reason == "no address to reply to"
    assert _decide(policy, person, undeliverable=True).reason == (
        "address is known to be undeliverable"
    )
    old = _inbound(received_at=NOW - dt.timedelta(days=30))
    assert _decide(policy, old).reason.startswith("received more than")
    loop = _decide(policy, person, quotes_our_reply=lambda: True)
    assert loop.reason == "quotes our own automatic reply back (a mail loop)"


def test_the_limits_per_sender_skip_urgent_replies_and_desk_wide_ones_hold(policy):
    person = _inbound()
    over = _decide(policy, person, budget=_budget(sender=2))
    assert over.reason == "limit of 2 acknowledgements per sender per hour reached"
    assert not over.held
    assert _decide(policy, person, budget=_budget(sender=2), urgent=True).reply
    held = _decide(policy, person, budget=_budget(minute=5), urgent=True)
    assert held.held and "desk-wide limit of 5" in held.reason


def test_a_reply_spends_the_budget_of_its_sender_base_address_and_desk():
    budget = _budget()
    budget.spend(_inbound(sender="ilze+1@novads.example.lv"))
    assert budget.per_sender["ilze@novads.example.lv"] == 1
    assert budget.desk_minute["municipal"] == budget.desk_hour["municipal"] == 1


def test_triage_looks_up_suggestions_only_for_what_may_be_answered(policy):
    assert policy.may_be_answered(_inbound())
    assert not policy.may_be_answered(_inbound(no_reply_reason="list mail"))
    proven = _inbound(sender="janis@example.lv", vouches=(Vouch("mx.example.lv", "example.lv"),))
    assert not policy.may_be_answered(proven)


def test_thread_refs_are_the_answered_id_then_the_conversation():
    inbound = _inbound(in_reply_to="b@x", references=("a@x", "b@x"))
    assert inbound.thread_refs == ("b@x", "a@x", "b@x")
    assert _inbound().thread_refs == ()


def _item(headers: dict[str, object]) -> OutboxItem:
    return OutboxItem(
        id=1,
        kind="acknowledgement",
        channel="email",
        sender="atbalsts@example.lv",
        recipient="ilze@novads.example.lv",
        subject="[MUN-2026-000001] Palīdzība",
        body_text="Saņemts.",
        headers=headers,
        created_at=NOW,
    )


def test_the_email_sender_makes_the_threading_headers_from_a_neutral_item():
    mail = build_email(
        _item(
            {
                "reference": "ours@example.lv",
                "in_reply_to": "b@x",
                "references": ["a@x"],
                "automatic": True,
                "sender_name": "Atbalsts",
            }
        )
    )
    assert mail["Message-ID"] == "<ours@example.lv>"
    assert mail["In-Reply-To"] == "<b@x>"
    assert mail["References"] == "<a@x> <b@x>"
    assert mail["Auto-Submitted"] == "auto-replied"
    assert mail["From"] == "Atbalsts <atbalsts@example.lv>"
    for key in ("reference", "in_reply_to", "automatic", "sender_name"):
        assert key not in mail
    by_person = build_email(_item({"reference": "r@example.lv", "automatic": False}))
    assert "Auto-Submitted" not in by_person and "In-Reply-To" not in by_person


def test_an_item_queued_before_the_neutral_outbox_is_sent_with_its_mail_headers():
    mail = build_email(_item({"Message-ID": "<old@example.lv>", "From-Name": "Atbalsts"}))
    assert mail["Message-ID"] == "<old@example.lv>"
    assert mail["From"] == "Atbalsts <atbalsts@example.lv>" and "From-Name" not in mail
