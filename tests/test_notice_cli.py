"""`triage notice send|list` (thin over the desk service) on SQLite and PostgreSQL: refused
too soon with exit status 1, sent to representatives through the outbox, the same command
again sends nothing twice, and the list shows recipients with their delivery state.

The command reads the real clock (no test clock reaches a CLI process), so the dates are
far enough on either side of any day the suite runs on: 3 January 2000 is always too soon,
4 January 2100 always far enough. The calendar rule itself is tested with a fixed clock in
test_console_clients.py."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import func, select

from triage_desk.cli import main
from triage_desk.desk_service import DeskService
from triage_desk.storage import links
from triage_desk.storage.db import make_engine, make_session_factory, upgrade
from triage_desk.storage.models import Notice, OutboxItem, RequesterAddress


def test_notice_send_and_list(database_url, example_config, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    upgrade(database_url)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    service = DeskService.from_config(example_config, sessions=sessions)
    ogre = service.add_client("Ogres novads", "municipal", ["ogre.lv"], "setup").id
    service.add_client_member(ogre, "ilze@ogre.lv", "setup", "Ilze", True)
    service.add_client_member(ogre, "peteris@ogre.lv", "setup", "Pēteris", False)
    with sessions.begin() as session:
        requester = session.scalar(
            select(RequesterAddress.requester_id).where(RequesterAddress.address == "ilze@ogre.lv")
        )
        links.link(session, "telegram", "888001", requester)
    text = tmp_path / "notice.txt"
    text.write_text("Sistēma nebūs pieejama no 10:00 līdz 12:00.\n", encoding="utf-8")
    command = ["notice", "send", "--desk", "municipal", "--clients", "Ogres novads"]
    command += ["--subject", "Atjaunināšana", "--text-file", str(text), "--staff", "sandra"]
    runner = CliRunner()
    too_soon = runner.invoke(main, [*command, "--change-at", "2000-01-03T10:00"])
    assert too_soon.exit_code == 1 and "5 business days" in too_soon.output
    unknown = runner.invoke(
        main, [*command[:4], "--clients", "Nav tāda", *command[6:], "--change-at", "2100-01-04"]
    )
    assert unknown.exit_code == 1 and "no client" in unknown.output
    sent = runner.invoke(main, [*command, "--change-at", "2100-01-04T10:00"])
    assert sent.exit_code == 0, sent.output
    assert "2 recipient(s)" in sent.output
    again = runner.invoke(main, [*command, "--change-at", "2100-01-04T10:00"])
    assert again.exit_code == 0 and "nothing queued again" in again.output
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Notice)) == 1
        queued = sorted(
            (channel, to)
            for channel, to in session.execute(
                select(OutboxItem.channel, OutboxItem.recipient).where(OutboxItem.kind == "notice")
            )
        )
    assert queued == [("email", "ilze@ogre.lv"), ("telegram", "888001")]
    listed = runner.invoke(main, ["notice", "list"], terminal_width=200)
    assert listed.exit_code == 0
    assert "email:ilze@ogre.lv" in listed.output and "telegram:888001" in listed.output
    assert "pending" in listed.output and "peteris" not in listed.output
    engine.dispose()
