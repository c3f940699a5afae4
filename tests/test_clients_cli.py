"""`triage clients import|list` over the desk service, on SQLite and PostgreSQL: the import
says what it changed and is in the audit log under --staff; a bad row refuses the whole
file, naming its line (exit status 2), and stores nothing; the list shows each client's
designated representatives; names from the file reach the terminal escaped."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import func, select

from triage_desk.cli import main
from triage_desk.desk_service import DeskService
from triage_desk.storage.db import make_engine, make_session_factory
from triage_desk.storage.models import AuditEvent, Client

HEADER = "client,desk,domain,address,name,representative\n"


def test_import_reports_changes_audits_and_lists(
    database_url, example_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    first = tmp_path / "clients.csv"
    first.write_text(
        HEADER
        + "Ogres novads,municipal,ogre.lv,ilze@ogre.lv,Ilze,yes\n"
        + "Ogres novads,municipal,ogre.lv,peteris@ogre.lv,Pēteris,no\n"
        + "Rīgas skola,municipal,skola.lv,direktors@skola.lv,Anna,yes\n",
        encoding="utf-8",
    )
    runner = CliRunner()

    imported = runner.invoke(main, ["clients", "import", str(first), "--staff", "sandra"])

    assert imported.exit_code == 0, imported.output
    assert "client added: Ogres novads" in imported.stdout
    assert "now a designated representative: ilze@ogre.lv (Ogres novads)" in imported.stdout
    assert "2 client(s) added" in imported.stderr and "3 member(s) added" in imported.stderr

    # Pēteris becomes the representative instead of Ilze; the rest is unchanged.
    second = tmp_path / "again.csv"
    second.write_text(
        HEADER
        + "Ogres novads,municipal,ogre.lv,ilze@ogre.lv,Ilze,no\n"
        + "Ogres novads,municipal,ogre.lv,peteris@ogre.lv,Pēteris,yes\n"
        + "Rīgas skola,municipal,skola.lv,direktors@skola.lv,Anna,yes\n",
        encoding="utf-8",
    )
    again = runner.invoke(main, ["clients", "import", str(second), "--staff", "janis"])

    assert again.exit_code == 0, again.output
    assert "no longer a designated representative: ilze@ogre.lv" in again.stdout
    assert "now a designated representative: peteris@ogre.lv" in again.stdout
    assert "0 client(s) added" in again.stderr and "1 row(s) unchanged" in again.stderr
    sessions = make_session_factory(make_engine(database_url))
    with sessions() as session:
        audit = session.execute(
            select(AuditEvent.actor, AuditEvent.details)
            .where(AuditEvent.action == "clients_imported")
            .order_by(AuditEvent.id)
        ).all()
    assert [actor for actor, _ in audit] == ["sandra", "janis"]
    assert audit[0][1]["source"] == "clients.csv" and audit[0][1]["clients_added"] == 2
    assert audit[1][1]["representatives_unset"] == 1

    listed = runner.invoke(main, ["clients", "list", "--desk", "municipal"])
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if "Ogres novads" in line)
    assert "peteris@ogre.lv" in row and "ilze@ogre.lv" not in row
    service = DeskService.from_config(example_config, sessions=sessions)
    assert [c.name for c in service.clients("municipal")] == ["Ogres novads", "Rīgas skola"]
    unknown = runner.invoke(main, ["clients", "list", "--desk", "nav"])
    assert unknown.exit_code == 2 and "configured desks" in unknown.output


def test_a_bad_row_refuses_the_whole_file(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        HEADER
        + "Ogres novads,municipal,ogre.lv,ilze@ogre.lv,Ilze,yes\n"
        + "Cēsu novads,no-such-desk,cesis.lv,it@cesis.lv,IT,yes\n",
        encoding="utf-8",
    )

    refused = CliRunner().invoke(main, ["clients", "import", str(bad)])

    assert refused.exit_code == 2
    assert "line 3" in refused.output and "unknown desk 'no-such-desk'" in refused.output
    with make_session_factory(make_engine(database_url))() as session:
        assert session.scalar(select(func.count()).select_from(Client)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_names_from_the_file_are_printed_escaped(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_DATABASE_URL", database_url)
    hostile = tmp_path / "hostile.csv"
    hostile.write_text(
        HEADER + '"Evil\x1b]0;owned\x07 [bold]x[/bold]",municipal,evil.lv,a@evil.lv,A,yes\n',
        encoding="utf-8",
    )
    runner = CliRunner()

    imported = runner.invoke(main, ["clients", "import", str(hostile)])
    listed = runner.invoke(main, ["clients", "list"])

    assert imported.exit_code == 0 and listed.exit_code == 0, imported.output + listed.output
    for output in (imported.stdout, listed.stdout):
        assert "\x1b" not in output and "\x07" not in output
        assert "\\x1b]0;owned\\x07" in output and "[bold]x[/bold]" in output
