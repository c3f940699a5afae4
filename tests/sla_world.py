"""A desk's year of tickets for the SLA legs and reports tests, built through the real
intake pipeline (parse, triage, due times, the steps) and the desk service's actions, with
a fixed clock moved to each event. Nothing here sets a due time or a "late" flag by hand.

The classifier is a stand-in that reads its answer from the subject's tag,
"[category feedback_type model_version sure|unsure]", so the test chooses each ticket's
category and the rest of the pipeline is the real one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from tests.helpers import make_mail
from triage_desk.classifier.predict import ClassifierInput, Prediction
from triage_desk.clock import FixedClock
from triage_desk.config import Config, EmailConfig
from triage_desk.desk_service import DeskService
from triage_desk.desks import Desks
from triage_desk.intake.email.parse import inbound_from_email
from triage_desk.intake.pipeline import IntakePipeline
from triage_desk.responders.render import TemplateRenderer
from triage_desk.storage.clients import ClientRecord, upsert_clients

RIGA = ZoneInfo("Europe/Riga")
STAFF = "jberzins"


def riga(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A wall time in Riga as an aware instant (EET in winter, EEST in summer)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=RIGA)


class TagClassifier:
    """Answers what the subject's "[category feedback version sure]" tag says."""

    def classify_many(
        self, items: list[ClassifierInput], semantic: bool | None = None
    ) -> list[Prediction]:
        predictions = []
        for item in items:
            tag = item.subject.split("]", 1)[0].lstrip("[").split()
            defaults = ["none", "v1", "sure"]  # feedback type, model version, sureness
            category, feedback, version, sure = [*tag, *defaults[len(tag) - 1 :]]
            confidence = 0.95 if sure == "sure" else 0.5
            predictions.append(
                Prediction(
                    category, confidence, feedback, 0.99, confidence, sure == "sure", "lv", version
                )
            )
        return predictions


@dataclass
class SlaWorld:
    sessions: sessionmaker[Session]
    desks: Desks
    clock: FixedClock
    service: DeskService
    numbers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pipeline = IntakePipeline(
            self.sessions,
            self.desks,
            TagClassifier(),
            TemplateRenderer(),
            rules=EmailConfig(),
            now=self.clock,
        )

    def mail(
        self,
        name: str,
        tag: str,
        at: dt.datetime,
        subject: str = "Atskaite neveidojas",
        headers: dict[str, str] | None = None,
        desk: str = "municipal",
    ) -> str:
        """A mail from ``name``'s own address received at ``at``; the ticket's number."""
        self.clock.set(at)
        raw = make_mail(
            subject=f"[{tag}] {subject}",
            sender=f"{name}@novads.example.lv",
            to=self.desks[desk].address,
            date=at,
            extra_headers=headers,
        )
        result = self.pipeline.process(inbound_from_email(raw, desk, at))
        self.numbers.setdefault(name, result.ticket_number)
        return result.ticket_number

    def person_writes_again(self, name: str, at: dt.datetime) -> str:
        """The person replies naming their ticket in the subject (reopens a resolved one)."""
        return self.mail(name, "error", at, subject=f"Re: {self.numbers[name]} vēlreiz")

    def reply(self, name: str, at: dt.datetime) -> None:
        self.clock.set(at)
        self.service.reply(self.numbers[name], "Labdien! Atbildam.", STAFF)

    def resolve(self, name: str, at: dt.datetime) -> None:
        self.clock.set(at)
        self.service.resolve(self.numbers[name], STAFF)

    def recategorise(self, name: str, category: str, at: dt.datetime) -> None:
        self.clock.set(at)
        self.service.change_category(self.numbers[name], category, "Tā ir avārija.", STAFF)

    def confirm(self, name: str, at: dt.datetime) -> None:
        self.clock.set(at)
        self.service.confirm(self.numbers[name], STAFF)


def make_sla_world(sessions: sessionmaker[Session], config: Config) -> SlaWorld:
    """The world over a migrated, empty database; every sender of ``LEGS`` is a designated
    representative of one client (consultations and data processing need one, clause 28)."""
    desks = Desks(config)
    members = tuple((f"{name}@novads.example.lv", None, True) for name in [*LEGS, "tester"])
    with sessions.begin() as session:
        upsert_clients(
            session,
            [ClientRecord("Novada pašvaldība", "municipal", ("novads.example.lv",), members)],
        )
    clock = FixedClock(riga(2026, 1, 1, 0))
    service = DeskService(sessions, desks, TemplateRenderer(), clock=clock)
    return SlaWorld(sessions, desks, clock, service)


# When the report is asked for: Wednesday 30 December 2026, 12:00 in Riga.
REPORT_AT = riga(2026, 12, 30, 12)

# Each ticket's legs as chosen for the test, (due, done) in Riga time, worked out by hand
# from the desk's terms (municipal: Mon-Fri 9-17, Latvian holidays), not by the code under
# test. None: the leg is still unmet at REPORT_AT. Categories as they end up.
LEGS: dict[str, tuple[str, list[tuple[str, dt.datetime, dt.datetime | None]]]] = {
    # error: 8 business hours to respond, 6 months to resolve.
    "on_time": (
        "error",
        [
            ("response", riga(2026, 2, 3, 10), riga(2026, 2, 2, 15)),
            ("resolution", riga(2026, 8, 2, 10), riga(2026, 2, 10, 12)),
        ],
    ),
    "late_reply": (  # answered 2.5 hours late, resolved in time: late on response
        "error",
        [
            ("response", riga(2026, 3, 5, 9, 30), riga(2026, 3, 5, 12)),
            ("resolution", riga(2026, 9, 4, 9, 30), riga(2026, 3, 20, 12)),
        ],
    ),
    "holiday": (  # Tue 17 Nov 14:00; Wed 18 Nov is a holiday: 3 h Tue + 5 h Thu → Thu 14:00
        "error",
        [
            ("response", riga(2026, 11, 19, 14), riga(2026, 11, 19, 13)),
            ("resolution", riga(2027, 5, 17, 14), None),
        ],
    ),
    "not_yet_due": (  # 30 Dec 11:00, an hour before the report: open, nothing late yet
        "error",
        [
            ("response", None, None),  # due after REPORT_AT whatever the New Year days off
            ("resolution", None, None),
        ],
    ),
    "reopened": (  # on time, resolved, reopened by the person's reply, then answered late
        "error",
        [
            ("response", riga(2026, 10, 6, 10), riga(2026, 10, 5, 11)),
            ("resolution", riga(2027, 4, 5, 10), riga(2026, 10, 6, 12)),
            ("response", riga(2026, 10, 14, 10), riga(2026, 10, 15, 10)),  # round 2
            ("resolution", riga(2027, 4, 13, 10), riga(2026, 10, 16, 12)),
        ],
    ),
    # consultation: 8 business hours, 5 business days.
    "saturday": (  # Sat 14 Mar: the clock starts Mon 16 Mar 9:00; resolved a day late
        "consultation",
        [
            ("response", riga(2026, 3, 16, 17), riga(2026, 3, 16, 16, 30)),
            ("resolution", riga(2026, 3, 23, 17), riga(2026, 3, 24, 10)),
        ],
    ),
    "friday_evening": (  # Fri 5 Jun 18:30: the clock starts Mon 8 Jun 9:00
        "consultation",
        [
            ("response", riga(2026, 6, 8, 17), riga(2026, 6, 8, 16)),
            ("resolution", riga(2026, 6, 15, 17), riga(2026, 6, 10, 12)),
        ],
    ),
    "new_year": (  # 00:30 on 1 Jan in Riga is 2025 in UTC: it counts in 2026
        "consultation",
        [
            ("response", None, riga(2026, 1, 1, 10)),  # answered before its clock starts
            ("resolution", None, riga(2026, 1, 1, 10, 5)),
        ],
    ),
    # emergency: 2 business hours, 16 business hours.
    "recategorised": (  # a consultation made an emergency at 11:00: due 12:00, answered 13:00
        "emergency",
        [
            ("response", riga(2026, 4, 7, 12), riga(2026, 4, 7, 13)),
            ("resolution", riga(2026, 4, 9, 10), riga(2026, 4, 9, 9, 30)),
        ],
    ),
    "emergency_slow_fix": (
        "emergency",
        [
            ("response", riga(2026, 9, 10, 12), riga(2026, 9, 10, 10, 30)),
            ("resolution", riga(2026, 9, 14, 10), riga(2026, 9, 14, 12)),
        ],
    ),
    "emergency_late_both": (
        "emergency",
        [
            ("response", riga(2026, 10, 20, 12), riga(2026, 10, 20, 15)),
            ("resolution", riga(2026, 10, 22, 10), riga(2026, 10, 23, 12)),
        ],
    ),
    # serious_error: 2 business hours, 40 business hours.
    "serious_ok": (
        "serious_error",
        [
            ("response", riga(2026, 5, 5, 12), riga(2026, 5, 5, 11)),
            ("resolution", riga(2026, 5, 12, 10), riga(2026, 5, 6, 12)),
        ],
    ),
    # data_processing: 8 business hours to respond, no resolution target.
    "unanswered": (  # Mon 14 Dec 10:00, due Tue 10:00, nobody ever answers
        "data_processing",
        [("response", riga(2026, 12, 15, 10), None)],
    ),
}


def seed_year(world: SlaWorld, finish: bool = False) -> None:
    """The tickets of ``LEGS`` (and two that must not count), event by event. ``finish``:
    also resolve the open ones at REPORT_AT, so no leg is left unmet (for a front end
    that reads the wall clock)."""
    w = world
    w.mail("last_year", "error none v1", riga(2025, 12, 31, 23, 30))  # 2025 in Riga: not counted
    w.mail("new_year", "consultation none v1", riga(2026, 1, 1, 0, 30))
    w.reply("new_year", riga(2026, 1, 1, 10))
    w.resolve("new_year", riga(2026, 1, 1, 10, 5))

    w.mail("on_time", "error suggestion v1", riga(2026, 2, 2, 10))
    w.reply("on_time", riga(2026, 2, 2, 15))
    w.resolve("on_time", riga(2026, 2, 10, 12))

    w.mail("late_reply", "error complaint_service v1", riga(2026, 3, 4, 9, 30))
    w.reply("late_reply", riga(2026, 3, 5, 12))
    w.resolve("late_reply", riga(2026, 3, 20, 12))

    w.mail("saturday", "consultation none v1", riga(2026, 3, 14, 11))
    w.reply("saturday", riga(2026, 3, 16, 16, 30))
    w.resolve("saturday", riga(2026, 3, 24, 10))

    w.mail("recategorised", "consultation none v1", riga(2026, 4, 7, 10))
    w.recategorise("recategorised", "emergency", riga(2026, 4, 7, 11))
    w.reply("recategorised", riga(2026, 4, 7, 13))
    w.resolve("recategorised", riga(2026, 4, 9, 9, 30))

    # Robot mail: kept, no legs, no case.
    w.mail(
        "robot", "error none v1", riga(2026, 5, 4, 10), headers={"Auto-Submitted": "auto-replied"}
    )

    w.mail("serious_ok", "serious_error none v1", riga(2026, 5, 5, 10))
    w.reply("serious_ok", riga(2026, 5, 5, 11))
    w.resolve("serious_ok", riga(2026, 5, 6, 12))

    w.mail("friday_evening", "consultation praise v1", riga(2026, 6, 5, 18, 30))
    w.reply("friday_evening", riga(2026, 6, 8, 16))
    w.resolve("friday_evening", riga(2026, 6, 10, 12))

    w.mail("emergency_slow_fix", "emergency complaint_service v2", riga(2026, 9, 10, 10))
    w.reply("emergency_slow_fix", riga(2026, 9, 10, 10, 30))
    w.resolve("emergency_slow_fix", riga(2026, 9, 14, 12))

    w.mail("reopened", "error none v2", riga(2026, 10, 5, 10))
    w.reply("reopened", riga(2026, 10, 5, 11))
    w.resolve("reopened", riga(2026, 10, 6, 12))
    assert w.person_writes_again("reopened", riga(2026, 10, 13, 10)) == w.numbers["reopened"]
    w.reply("reopened", riga(2026, 10, 15, 10))
    w.resolve("reopened", riga(2026, 10, 16, 12))

    w.mail("emergency_late_both", "emergency none v2", riga(2026, 10, 20, 10))
    w.reply("emergency_late_both", riga(2026, 10, 20, 15))
    w.resolve("emergency_late_both", riga(2026, 10, 23, 12))

    w.mail("holiday", "error none v2 unsure", riga(2026, 11, 17, 14))
    w.confirm("holiday", riga(2026, 11, 17, 15))
    w.reply("holiday", riga(2026, 11, 19, 13))

    w.mail("unanswered", "data_processing none v2", riga(2026, 12, 14, 10))
    w.mail("not_yet_due", "error none v2", riga(2026, 12, 30, 11))
    if finish:
        for name in ("holiday", "unanswered", "not_yet_due"):
            w.resolve(name, REPORT_AT)
    w.clock.set(REPORT_AT)
