"""``DeskService``: the one door every staff front end goes through.

The command line uses it now; the web console and the Telegram bot will. It reads and acts
in its own short transactions and answers with frozen values (``results``) or a typed
refusal (``errors``). It never reads the wall clock: "now" is the injected clock's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy.orm import Session, sessionmaker

from triage_desk.clock import Clock, system_clock
from triage_desk.config import Config
from triage_desk.desk_service import calls, queries, reports
from triage_desk.desk_service.actions import Reprocess, StaffActions, _who
from triage_desk.desk_service.client_results import (
    ClientDetail,
    ClientSummary,
    ImportReport,
    MemberView,
    NoticeSent,
    NoticeView,
    RequesterDetail,
)
from triage_desk.desk_service.clients import ClientDesk
from triage_desk.desk_service.errors import DeskError
from triage_desk.desk_service.notices import NoticeDesk
from triage_desk.desk_service.queries import TicketFilter
from triage_desk.desk_service.results import (
    ActionResult,
    AddressView,
    AssistantFigures,
    CallLogged,
    FeedbackReport,
    FormSuggestionFigures,
    LateShareReport,
    OutboxView,
    QuarantineView,
    StoredFile,
    TicketDetail,
    TicketSummary,
    TriageQualityReport,
)
from triage_desk.desks import Desks
from triage_desk.responders.render import TemplateRenderer
from triage_desk.responders.webhooks import Webhooks
from triage_desk.storage.db import make_engine, make_session_factory, upgrade

MAX_BULK = 200  # tickets one bulk confirm may name


class DeskService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        desks: Desks,
        renderer: TemplateRenderer,
        sender_name: str = "Triage Desk",
        staff_names: Mapping[str, str] | None = None,
        clock: Clock = system_clock,
        reprocess: Reprocess | None = None,
        webhooks: Webhooks | None = None,
    ) -> None:
        self.sessions = sessions
        self.desks = desks
        self.clock = clock
        self.actions = StaffActions(
            sessions, desks, renderer, sender_name, clock, staff_names, reprocess, webhooks
        )
        self.client_desk = ClientDesk(sessions, desks, clock)
        self.notice_desk = NoticeDesk(sessions, desks, renderer, clock)

    @classmethod
    def from_config(
        cls,
        config: Config,
        clock: Clock = system_clock,
        sessions: sessionmaker[Session] | None = None,
        reprocess: Reprocess | None = None,
    ) -> DeskService:
        """From configuration alone: no model is loaded, so a front end starts fast. Without
        ``sessions`` the configured database is migrated to the newest schema and opened."""
        if sessions is None:
            upgrade(config.database_url())
            sessions = make_session_factory(make_engine(config.database_url()))
        return cls(
            sessions,
            Desks(config),
            TemplateRenderer(),
            config.outbound.from_name,
            staff_names=config.outbound.staff_names,
            clock=clock,
            reprocess=reprocess,
            webhooks=Webhooks.from_config(config),
        )

    # ------------------------------------------------------------------ queries

    def tickets(self, wanted: TicketFilter | None = None) -> list[TicketSummary]:
        """The work queue: by response due (none last) unless ``newest_first``."""
        with self.sessions() as session:
            return queries.list_tickets(session, self.desks, wanted or TicketFilter(), self.clock())

    def ticket(self, number: str) -> TicketDetail:
        with self.sessions() as session:
            return queries.ticket_detail(session, self.desks, number, self.clock())

    def outbox(self, status: str | None = None, limit: int = 50) -> list[OutboxView]:
        with self.sessions() as session:
            return queries.outbox_items(session, status, limit)

    def outbox_item(self, item_id: int) -> OutboxView:
        with self.sessions() as session:
            return queries.outbox_item(session, item_id)

    def quarantine(self, include_all: bool = False) -> list[QuarantineView]:
        with self.sessions() as session:
            return queries.quarantined(session, include_all)

    def quarantined_mail(self, quarantine_id: int) -> QuarantineView:
        """One quarantined mail, its raw bytes included."""
        with self.sessions() as session:
            return queries.quarantined_mail(session, quarantine_id)

    def message_raw(self, number: str, message_id: int) -> StoredFile:
        with self.sessions() as session:
            return queries.message_raw(session, number, message_id)

    def message_html(self, number: str, message_id: int) -> str | None:
        with self.sessions() as session:
            return queries.message_html(session, number, message_id)

    def attachment(self, number: str, attachment_id: int) -> StoredFile:
        with self.sessions() as session:
            return queries.attachment_file(session, number, attachment_id)

    def undeliverable_addresses(self) -> list[AddressView]:
        with self.sessions() as session:
            return queries.undeliverable_addresses(session)

    def assistant_figures(self, desk: str, start: dt.date, end: dt.date) -> AssistantFigures:
        """The assistant's offers, declines, helped and hand-offs of a desk, ``start`` to
        ``end`` inclusive (local days)."""
        with self.sessions() as session:
            return reports.assistant_figures(session, self.desks, desk, start, end)

    def late_share(self, desk: str, year: int) -> LateShareReport:
        """Clause 37: per category, the cases of ``year`` late on response, resolution or
        either, against the allowed share; an unmet due time before now is late."""
        with self.sessions() as session:
            return reports.late_share(session, self.desks, desk, year, self.clock())

    def feedback_by_month(self, desk: str, year: int) -> FeedbackReport:
        with self.sessions() as session:
            return reports.feedback_by_month(session, self.desks, desk, year)

    def triage_quality(self, desk: str, year: int) -> TriageQualityReport:
        with self.sessions() as session:
            return reports.triage_quality(session, self.desks, desk, year)

    def zone(self, desk: str) -> dt.tzinfo:
        """The zone a desk's times are shown in (UTC for a desk no longer configured)."""
        found = self.desks.by_name.get(desk)
        return found.calendar.zone if found else dt.UTC

    # ------------------------------------------------------------------ actions

    def confirm(
        self, number: str, staff: str, reason: str | None = None, override: bool = True
    ) -> ActionResult:
        return self.actions.confirm(number, staff, reason, override)

    def confirm_many(self, numbers: list[str], staff: str) -> list[ActionResult | DeskError]:
        """Bulk confirm: each ticket in its own transaction, refusals never overridden; one
        result or refusal per number, in order."""
        done: list[ActionResult | DeskError] = []
        for number in numbers[:MAX_BULK]:
            try:
                done.append(self.actions.confirm(number, staff, override=False))
            except DeskError as refused:
                done.append(refused)
        return done

    def assign(self, number: str, assignee: str | None, staff: str) -> ActionResult:
        return self.actions.assign(number, assignee, staff)

    def add_note(self, number: str, text: str, staff: str) -> ActionResult:
        return self.actions.add_note(number, text, staff)

    def change_category(self, number: str, category: str, reason: str, staff: str) -> ActionResult:
        return self.actions.change_category(number, category, reason, staff)

    def change_feedback_type(
        self, number: str, feedback_type: str, staff: str, reason: str | None = None
    ) -> ActionResult:
        return self.actions.change_feedback_type(number, feedback_type, staff, reason)

    def reply(self, number: str, text: str, staff: str, force: bool = False) -> ActionResult:
        return self.actions.reply(number, text, staff, force)

    def resolve(
        self, number: str, staff: str, note: str | None = None, force: bool = False
    ) -> ActionResult:
        return self.actions.resolve(number, staff, note, force)

    def reopen(self, number: str, staff: str, reason: str | None = None) -> ActionResult:
        return self.actions.reopen(number, staff, reason)

    def requeue_outbox(self, item_id: int, staff: str, reason: str | None = None) -> ActionResult:
        return self.actions.requeue_outbox(item_id, staff, reason)

    def release_quarantined(
        self, quarantine_id: int, staff: str, time_limit: float | None = None
    ) -> ActionResult:
        return self.actions.release_quarantined(quarantine_id, staff, time_limit)

    def discard_quarantined(
        self, quarantine_id: int, staff: str, reason: str | None = None
    ) -> ActionResult:
        return self.actions.discard_quarantined(quarantine_id, staff, reason)

    # ------------------------------------------------------------------ phone and form

    def log_call(
        self,
        desk: str,
        address: str,
        text: str,
        at: dt.datetime,
        staff: str,
        subject: str | None = None,
        category: str | None = None,
    ) -> CallLogged:
        """Queue a phone call (channel "phone"); its due times count from ``at``;
        ``category``, when staff chose one, is the ticket's (confirmed)."""
        return calls.log_call(
            self.sessions, self.desks, self.clock,
            desk=desk, address=address, text=text, at=at, staff=staff, subject=subject,
            category=category,
        )  # fmt: skip

    def ticket_number_of(self, external_id: str) -> str | None:
        """The ticket a logged call or a form submission became; None until it is stored."""
        return calls.ticket_number_of(self.sessions, external_id)

    def form_suggestions(self, desk: str, start: dt.date, end: dt.date) -> FormSuggestionFigures:
        """The public form's article offers and clicks, ``start`` to ``end`` (local days)."""
        return calls.form_suggestions(self.sessions, self.desks, desk, start, end)

    def clear_address(
        self, address: str, staff: str, channel: str = "email", reason: str | None = None
    ) -> ActionResult:
        return self.actions.clear_address(address, staff, channel, reason)

    # ------------------------------------------------------------------ clients, notices

    def clients(self, desk: str | None = None) -> list[ClientSummary]:
        return self.client_desk.clients(desk)

    def client(self, client_id: int) -> ClientDetail:
        return self.client_desk.client(client_id)

    def requester(self, requester_id: int) -> RequesterDetail:
        return self.client_desk.requester(requester_id)

    def find_requesters(self, text: str) -> list[RequesterDetail]:
        return self.client_desk.find_requesters(text)

    def add_client(self, name: str, desk: str, domains: Sequence[str], staff: str) -> ClientSummary:
        return self.client_desk.add_client(name, desk, domains, _who(staff))

    def set_client_domains(
        self, client_id: int, domains: Sequence[str], staff: str
    ) -> ClientSummary:
        return self.client_desk.set_domains(client_id, domains, _who(staff))

    def add_client_member(
        self,
        client_id: int,
        address: str,
        staff: str,
        name: str | None = None,
        representative: bool = False,
    ) -> MemberView:
        return self.client_desk.add_member(client_id, address, _who(staff), name, representative)

    def add_requester_to_client(
        self, client_id: int, requester_id: int, staff: str, representative: bool = False
    ) -> MemberView:
        return self.client_desk.add_requester(client_id, requester_id, _who(staff), representative)

    def set_representative(
        self, client_id: int, requester_id: int, representative: bool, staff: str
    ) -> MemberView:
        return self.client_desk.set_representative(
            client_id, requester_id, representative, _who(staff)
        )

    def import_clients(self, data: bytes, source: str, staff: str) -> ImportReport:
        """The CSV of ``triage clients import`` (bytes, e.g. an upload), checked whole."""
        return self.client_desk.import_csv(data, source, _who(staff))

    def earliest_notice_change(self, desk: str) -> dt.datetime:
        return self.notice_desk.earliest_change(desk)

    def send_notice(
        self,
        desk: str,
        clients: Sequence[int | str],
        change_at: dt.datetime,
        subject: str,
        text: str,
        staff: str,
        key: str,
    ) -> NoticeSent:
        return self.notice_desk.send(desk, clients, change_at, subject, text, _who(staff), key)

    def notices(self, desk: str | None = None, limit: int = 100) -> list[NoticeView]:
        return self.notice_desk.notices(desk, limit)

    def notice(self, notice_id: int) -> NoticeView:
        return self.notice_desk.notice(notice_id)


__all__ = ["DeskService"]
