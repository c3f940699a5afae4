"""The IMAP listener against a real Dovecot: checkpoints, marks, failures, IDLE, TLS, backoff;
what it fetches goes through the inbound queue to the queue runner."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import threading
import time
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select

from tests.conftest import EXAMPLE_CONFIG
from tests.dovecot import Account, Dovecot, serve_for_tests
from tests.helpers import make_mail
from triage_desk.app import App, build_app
from triage_desk.config import Config, parse_config
from triage_desk.intake.email.imap_listener import (
    KEYWORD,
    ImapListener,
    MailboxFetcher,
    StorageFailed,
    connect,
    count_stored,
    fetch_once,
)
from triage_desk.intake.queue import InboundQueue
from triage_desk.runners import RunnerThread
from triage_desk.service import serve
from triage_desk.storage.models import Direction, ImapCheckpoint, Message, OutboxItem, Ticket


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    yield from serve_for_tests()


@pytest.fixture
def account(dovecot: Dovecot) -> Account:
    return dovecot.add_user()


def mails(count: int, tag: str = "", start: int = 0) -> list[bytes]:
    """Distinct senders, so the per-sender acknowledgement limit never interferes."""
    return [
        make_mail(
            subject=f"Atskaite {tag}{i}",
            sender=f"P{i} <p{i}.{tag}@novads.example.lv>",
            message_id=f"<{tag}.{i}@novads.example.lv>",
        )
        for i in range(start, start + count)
    ]


def mailbox(
    account: Account, monkeypatch: pytest.MonkeyPatch, name: str = "inbox", **options: Any
) -> dict[str, Any]:
    env = f"TEST_IMAP_PASSWORD_{name.upper().replace('-', '_')}"
    monkeypatch.setenv(env, account.password)
    return {
        "name": name,
        "host": account.host,
        "port": account.port,
        "security": "none",
        "username": account.user,
        "password_env": env,
        **options,
    }


def make_config(**desk_mailboxes: list[dict[str, Any]]) -> Config:
    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["web"] = {"port": 0}  # the example's web form: any free port, never a shared one
    for desk, boxes in desk_mailboxes.items():
        data["desks"][desk]["mailboxes"] = boxes
    return parse_config(data)


def app_for(config: Config, url: str, classifier: Any) -> App:
    return build_app(config, migrate=False, classifier=classifier, database_url=url)


def count(app: App, statement: Any) -> int:
    with app.sessions() as session:
        return int(session.scalar(statement) or 0)


def inbound(app: App) -> int:
    return count(app, select(func.count(Message.id)).where(Message.direction == Direction.INBOUND))


def tickets(app: App, desk: str | None = None) -> int:
    query = select(func.count(Ticket.id))
    if desk:
        query = query.where(Ticket.desk == desk)
    return count(app, query)


def outbox(app: App) -> int:
    return count(app, select(func.count(OutboxItem.id)))


def checkpoint(app: App, name: str = "inbox", folder: str = "INBOX") -> tuple[int, int] | None:
    with app.sessions() as session:
        row = session.get(ImapCheckpoint, (name, folder))
        return (row.uidvalidity, row.last_uid) if row else None


def marked(account: Account, folder: str = "INBOX") -> list[int]:
    return sorted(
        uid
        for uid, flags in account.flags(folder).items()
        if KEYWORD in flags and "\\Seen" in flags
    )


def fetch(app: App, config: Config, **options: Any) -> list[Any]:
    """``triage fetch --once`` in one process: the mailboxes into the queue, then the queue
    stored, and what was stored counted in each mailbox's figures."""
    results = fetch_once(config, InboundQueue(app.sessions), **options)
    count_stored(results, app.store_queued(), 0.0)
    return results


def only(results: list[Any]) -> Any:
    assert len(results) == 1, results
    assert results[0].error is None, results[0].error
    return results[0].stats


# --------------------------------------------------------------------------- fetch once


def test_fetch_stores_marks_and_checkpoints_each_mail_once(
    account, monkeypatch, database_url, classifier
):
    account.append(mails(7, "a"))
    config = make_config(municipal=[mailbox(account, monkeypatch, batch_size=3)])
    app = app_for(config, database_url, classifier)

    stats = only(fetch(app, config))

    assert (stats.fetched, stats.stored, stats.duplicates) == (7, 7, 0)
    assert (inbound(app), tickets(app, "municipal"), outbox(app)) == (7, 7, 7)
    assert marked(account) == [1, 2, 3, 4, 5, 6, 7]
    assert checkpoint(app) == (account.uidvalidity(), 7)
    # Nothing new: nothing fetched. One more mail: exactly that one.
    assert only(fetch(app, config)).fetched == 0
    account.append(mails(1, "b"))
    stats = only(fetch(app, config))
    assert (stats.fetched, stats.stored) == (1, 1)
    assert checkpoint(app) == (account.uidvalidity(), 8)
    assert inbound(app) == 8


def test_fetch_once_stores_after_each_commit_of_its_fetching_child(
    account, monkeypatch, sqlite_url, classifier, tmp_path
):
    """`fetch --once` stores the queue while its child is still fetching (fetch_child.py):
    each later batch of the child waits until the first one is stored; every mail is stored
    and counted once."""
    from triage_desk.intake.email.fetch_child import FetchingChild

    account.append(mails(6, "behind"))
    config = make_config(municipal=[mailbox(account, monkeypatch, batch_size=2)])
    app = app_for(config, sqlite_url, classifier)
    stored_first = tmp_path / "stored-first"
    waits = tmp_path / "waits"
    real_enqueue = InboundQueue.enqueue_in

    def enqueue_in(queue, session, items):  # runs in the child (patched before the fork)
        if waits.exists():
            deadline = time.monotonic() + 60
            while not stored_first.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            with waits.open("a") as out:
                out.write("stored" if stored_first.exists() else "timeout")
        else:
            waits.write_text("")
        return real_enqueue(queue, session, items)

    def store():
        outcomes = app.store_queued()
        if outcomes:
            stored_first.touch()
        return outcomes

    monkeypatch.setattr(InboundQueue, "enqueue_in", enqueue_in)
    [result] = FetchingChild.start(config, sqlite_url).store_until_done(store)

    # Storing only after the fetching would have left the later batches' waits unanswered.
    assert waits.read_text() == "storedstored"
    assert (result.stats.fetched, result.stats.stored, result.stats.duplicates) == (6, 6, 0)
    assert result.error is None
    assert (inbound(app), tickets(app, "municipal"), outbox(app)) == (6, 6, 6)


def test_prefetching_waits_for_a_slow_consumer(account, monkeypatch, sqlite_url, classifier):
    """Batches are fetched ahead while the previous one is queued; none is lost or stuck."""
    account.append(mails(9, "slow"))
    config = make_config(municipal=[mailbox(account, monkeypatch, batch_size=2)])
    app = app_for(config, sqlite_url, classifier)
    fetched_while_queueing: list[int] = []

    class Slow(InboundQueue):
        def enqueue_in(self, session, items):  # type: ignore[no-untyped-def]
            time.sleep(0.3)  # the prefetch thread gets ahead meanwhile
            fetched_while_queueing.append(threading.active_count())
            return super().enqueue_in(session, items)

    mailbox_config = config.desks["municipal"].mailboxes[0]
    fetcher = MailboxFetcher(mailbox_config, "municipal", Slow(app.sessions))
    client = connect(mailbox_config)
    try:
        stats = fetcher.drain(client)
    finally:
        client.logout()
    assert stats.fetched == 9 and InboundQueue(app.sessions).waiting() == 9
    assert len(fetched_while_queueing) == 5 and max(fetched_while_queueing) >= 2
    assert marked(account) == list(range(1, 10))
    assert len(app.store_queued()) == 9 and inbound(app) == 9


def test_received_at_is_the_internaldate_and_old_mail_gets_no_acknowledgement(
    account, monkeypatch, sqlite_url, classifier
):
    """A newly connected mailbox with old mail: imported, but not acknowledged."""
    old = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=3)
    account.append(mails(2, "old"), when=old)
    account.append(mails(1, "new"))
    config = make_config(municipal=[mailbox(account, monkeypatch)])
    app = app_for(config, sqlite_url, classifier)

    assert only(fetch(app, config)).stored == 3

    with app.sessions() as session:
        rows = session.execute(
            select(Message.subject, Message.received_at, Ticket.id)
            .join(Ticket, Message.ticket_id == Ticket.id)
            .where(Message.direction == Direction.INBOUND)
            .order_by(Message.id)
        ).all()
        acked = set(session.scalars(select(OutboxItem.ticket_id)))
    assert [r.received_at for r in rows[:2]] == [old, old]  # INTERNALDATE, not "now"
    assert abs(rows[2].received_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert [r.id in acked for r in rows] == [False, False, True]


def test_fetching_alone_never_sets_seen_and_a_queue_failure_stops_the_fetch(
    account, monkeypatch, database_url, classifier
):
    account.append(mails(6, "f"))
    config = make_config(municipal=[mailbox(account, monkeypatch, batch_size=4)])
    app = app_for(config, database_url, classifier)

    class DatabaseDownAtF5(InboundQueue):
        def enqueue_in(self, session, items):  # type: ignore[no-untyped-def]
            if any(b"Atskaite f5" in item.payload for item in items):
                raise RuntimeError("database is down")
            return super().enqueue_in(session, items)

    mailbox_config = config.desks["municipal"].mailboxes[0]
    fetcher = MailboxFetcher(mailbox_config, "municipal", DatabaseDownAtF5(app.sessions))
    client = connect(mailbox_config)
    try:
        with pytest.raises(StorageFailed, match="UIDs 5 to 6"):
            fetcher.drain(client)
    finally:
        client.logout()

    # The first batch of four was queued (with its checkpoint) and marked; the second was not.
    assert InboundQueue(app.sessions).waiting() == 4 and inbound(app) == 0
    assert checkpoint(app) == (account.uidvalidity(), 4)
    flags = account.flags()
    assert marked(account) == [1, 2, 3, 4]
    assert all("\\Seen" not in flags[uid] for uid in (5, 6))  # BODY.PEEK: still unread
    # The database is back: the rest is fetched, and all is stored, nothing twice.
    stats = only(fetch(app, config))
    assert (stats.fetched, stats.stored, stats.duplicates) == (2, 6, 0)
    assert (inbound(app), tickets(app), outbox(app)) == (6, 6, 6)
    assert marked(account) == [1, 2, 3, 4, 5, 6]


def test_a_reply_fetched_together_with_its_parent_joins_the_parents_ticket(
    account, monkeypatch, sqlite_url, classifier
):
    parent = "<thread.0@novads.example.lv>"
    account.append(
        [
            make_mail(subject="Atskaite nestrādā", message_id=parent),
            make_mail(
                subject="Re: Atskaite nestrādā",
                message_id="<thread.1@novads.example.lv>",
                body="Vēl joprojām nestrādā.",
                extra_headers={"In-Reply-To": parent},
            ),
            make_mail(
                subject="Re: Re: Atskaite nestrādā",
                message_id="<thread.2@novads.example.lv>",
                body="Lūdzu, atbildiet!",
                extra_headers={"References": f"{parent} <thread.1@novads.example.lv>"},
            ),
        ]
    )
    config = make_config(municipal=[mailbox(account, monkeypatch)])
    app = app_for(config, sqlite_url, classifier)

    assert only(fetch(app, config)).stored == 3

    assert (inbound(app), tickets(app)) == (3, 1)


def test_mail_already_carrying_our_keyword_is_skipped(account, monkeypatch, sqlite_url, classifier):
    account.append(mails(2, "k"), flags=(KEYWORD,))
    account.append(mails(1, "k", start=2))
    config = make_config(municipal=[mailbox(account, monkeypatch)])
    app = app_for(config, sqlite_url, classifier)

    stats = only(fetch(app, config))

    assert (stats.fetched, stats.skipped) == (1, 2)
    assert inbound(app) == 1
    assert checkpoint(app) == (account.uidvalidity(), 3)


def test_a_new_uidvalidity_reads_the_folder_again_without_duplicates(
    account, monkeypatch, sqlite_url, classifier
):
    account.recreate_folder("Support")
    account.append(mails(3, "u"), folder="Support")
    config = make_config(municipal=[mailbox(account, monkeypatch, folders=["Support"])])
    app = app_for(config, sqlite_url, classifier)
    assert only(fetch(app, config)).stored == 3
    first = checkpoint(app, folder="Support")

    # The server rebuilt the folder: same mails (our marks lost) plus one new, new UIDVALIDITY.
    account.recreate_folder("Support")
    account.append(mails(4, "u"), folder="Support")
    stats = only(fetch(app, config))

    assert first is not None and checkpoint(app, folder="Support") != first
    assert checkpoint(app, folder="Support") == (account.uidvalidity("Support"), 4)
    assert (stats.fetched, stats.stored, stats.duplicates) == (4, 1, 3)
    assert (inbound(app), tickets(app), outbox(app)) == (4, 4, 4)


def test_crash_after_checkpoint_before_marking_is_repaired(
    account, monkeypatch, sqlite_url, classifier
):
    account.append(mails(3, "r"))
    config = make_config(municipal=[mailbox(account, monkeypatch)])
    app = app_for(config, sqlite_url, classifier)

    def die(*_args: Any) -> int:
        raise ConnectionResetError("connection dropped before STORE")

    with monkeypatch.context() as patch:
        patch.setattr(MailboxFetcher, "_after_commit", die)
        result = fetch(app, config, attempts=1)
    assert result[0].error and "ConnectionResetError" in result[0].error
    assert checkpoint(app) == (account.uidvalidity(), 3) and marked(account) == []

    stats = only(fetch(app, config))

    assert (stats.fetched, stats.marked) == (0, 3)  # marked, not fetched again
    assert marked(account) == [1, 2, 3]
    assert inbound(app) == 3


@pytest.mark.parametrize("has_move", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
def test_move_mode_moves_committed_mail_to_the_processed_folder(
    account, monkeypatch, sqlite_url, classifier, has_move
):
    account.append(mails(4, "m"))
    account.append(mails(1, "keep"), folder="Other")
    config = make_config(
        municipal=[
            mailbox(
                account,
                monkeypatch,
                after_commit="move",
                processed_folder="Processed",
                batch_size=2,
            )
        ]
    )
    app = app_for(config, sqlite_url, classifier)
    if not has_move:
        original = IMAPClient.has_capability
        monkeypatch.setattr(
            IMAPClient,
            "has_capability",
            lambda self, cap: cap.upper() != "MOVE" and original(self, cap),
        )

    stats = only(fetch(app, config))

    assert stats.stored == 4
    assert account.uids("INBOX") == []
    moved = account.flags("Processed")
    assert len(moved) == 4 and all({KEYWORD, "\\Seen"} <= f for f in moved.values())
    assert all("\\Deleted" not in f for f in moved.values())
    assert len(account.uids("Other")) == 1  # untouched
    assert only(fetch(app, config)).fetched == 0


def test_several_mailboxes_and_folders_feed_their_desks(
    dovecot, monkeypatch, sqlite_url, classifier
):
    first, second = dovecot.add_user(), dovecot.add_user()
    first.append(mails(2, "a1"))
    first.append(mails(3, "a2"), folder="Support")
    second.append(mails(4, "b1"))
    config = make_config(
        municipal=[mailbox(first, monkeypatch, name="mun-main", folders=["INBOX", "Support"])],
        eparaksts=[mailbox(second, monkeypatch, name="epa-main")],
    )
    app = app_for(config, sqlite_url, classifier)

    results = fetch(app, config)

    assert {(r.mailbox, r.desk, r.stats.fetched, r.error) for r in results} == {
        ("mun-main", "municipal", 5, None),
        ("epa-main", "eparaksts", 4, None),
    }
    assert results[0].stats.folders == {"INBOX": 2, "Support": 3}
    assert (tickets(app, "municipal"), tickets(app, "eparaksts")) == (5, 4)
    assert checkpoint(app, "mun-main", "Support") == (first.uidvalidity("Support"), 3)


# --------------------------------------------------------------------------- TLS


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls_trust_the_configured_ca(
    account, monkeypatch, dovecot, sqlite_url, classifier, security
):
    account.append(mails(2, security))
    port = dovecot.tls_port if security == "tls" else dovecot.port
    config = make_config(
        municipal=[
            mailbox(
                account, monkeypatch, security=security, port=port, ca_file=str(dovecot.cert_file)
            )
        ]
    )
    app = app_for(config, sqlite_url, classifier)

    assert only(fetch(app, config)).stored == 2

    # Without our CA the certificate is refused: never a silent downgrade.
    untrusted = (
        make_config(municipal=[mailbox(account, monkeypatch, security=security, port=port)])
        .desks["municipal"]
        .mailboxes[0]
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(untrusted)


def test_wrong_password_is_a_reported_failure(account, monkeypatch, sqlite_url, classifier):
    config = make_config(municipal=[mailbox(account, monkeypatch)])
    monkeypatch.setenv(config.desks["municipal"].mailboxes[0].password_env, "wrong")
    app = app_for(config, sqlite_url, classifier)

    result = fetch(app, config, attempts=2, backoff_start=0.01)

    assert result[0].error is not None and "LoginError" in result[0].error


# --------------------------------------------------------------------------- listener


def wait_for(condition: Any, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


@pytest.fixture
def running() -> Iterator[list[Any]]:
    """Listeners and queue runners started by a test, stopped after it."""
    started: list[Any] = []
    yield started
    for each in started:
        each.stop()
        if isinstance(each, ImapListener):
            assert each.thread is not None and not each.thread.is_alive()


def listening(app: App, config: Config, running: list[Any], **options: Any) -> ImapListener:
    """The desk's first mailbox listened to, the queue runner storing behind it."""
    storing = RunnerThread(app.queue_runner(idle_seconds=0.2), app.clock)
    listener = ImapListener(
        config.desks["municipal"].mailboxes[0],
        "municipal",
        storing.runner.queue,  # type: ignore[attr-defined]
        wake=storing.wake,
        **options,
    )
    running.extend([listener, storing])
    storing.start()
    listener.start()
    return listener


def test_listener_idle_sees_new_mail_at_once_and_reconnects_after_a_drop(
    account, monkeypatch, dovecot, sqlite_url, classifier, running
):
    account.append(mails(2, "i"))
    # poll_seconds is long: only IDLE can make new mail arrive within seconds.
    config = make_config(municipal=[mailbox(account, monkeypatch, poll_seconds=60)])
    app = app_for(config, sqlite_url, classifier)
    listener = listening(app, config, running, backoff_start=0.1)
    wait_for(lambda: inbound(app) == 2, 15)

    time.sleep(0.3)  # in IDLE now
    account.append(mails(1, "i", start=2))
    assert wait_for(lambda: inbound(app) == 3, 10) < 5

    dovecot.kick(account.user)  # the server drops the connection
    wait_for(lambda: listener.failures >= 1 or len(listener.delays) >= 1, 10)
    account.append(mails(1, "i", start=3))
    wait_for(lambda: inbound(app) == 4 and listener.failures == 0, 15)  # backoff reset
    assert len(listener.delays) == 1  # one reconnect
    assert marked(account) == [1, 2, 3, 4]


def test_listener_polls_when_idle_is_off(account, monkeypatch, sqlite_url, classifier, running):
    config = make_config(municipal=[mailbox(account, monkeypatch, idle=False, poll_seconds=0.2)])
    app = app_for(config, sqlite_url, classifier)
    listener = listening(app, config, running)
    wait_for(lambda: listener.passes >= 2, 10)
    account.append(mails(2, "p"))
    wait_for(lambda: inbound(app) == 2, 10)
    assert listener.failures == 0 and not listener.delays


def test_reconnect_backoff_doubles_up_to_the_cap(sqlite_url, classifier, monkeypatch, running):
    monkeypatch.setenv("TEST_IMAP_DOWN", "x")
    config = make_config(
        municipal=[
            {
                "name": "down",
                "host": "127.0.0.1",
                "port": 9,
                "security": "none",
                "username": "x",
                "password_env": "TEST_IMAP_DOWN",
            }
        ]
    )
    attempts: list[float] = []

    def refuse(_mailbox: Any) -> IMAPClient:
        attempts.append(time.monotonic())
        raise ConnectionRefusedError("nothing listens")

    listener = ImapListener(
        config.desks["municipal"].mailboxes[0],
        "municipal",
        InboundQueue(None),  # type: ignore[arg-type]  # never reached
        backoff_start=0.02,
        backoff_max=0.16,
        connector=refuse,
    )
    running.append(listener)
    listener.start()
    wait_for(lambda: len(listener.delays) >= 7, 10)
    listener.stop()
    nominal = [0.02, 0.04, 0.08, 0.16, 0.16, 0.16, 0.16]
    for delay, expected in zip(listener.delays, nominal, strict=False):
        assert expected * 0.79 <= delay <= expected * 1.21
    assert len(attempts) >= 7


def test_stopping_the_listener_is_prompt(account, monkeypatch, sqlite_url, classifier):
    config = make_config(municipal=[mailbox(account, monkeypatch, poll_seconds=600)])
    app = app_for(config, sqlite_url, classifier)
    listener = ImapListener(
        config.desks["municipal"].mailboxes[0], "municipal", InboundQueue(app.sessions)
    )
    listener.start()
    wait_for(lambda: listener.passes >= 1, 10)
    stopper = threading.Thread(target=listener.stop)
    stopper.start()
    # It sleeps 600 s between polls: a stop that waited for the next poll would still hang here.
    stopper.join(60)
    assert not stopper.is_alive(), "stop() waited for the next poll"
    assert listener.thread is not None and not listener.thread.is_alive()


def test_the_service_runs_the_imap_listeners(
    account, monkeypatch, sqlite_url, classifier, tmp_path
):
    account.append(mails(2, "svc"))
    config = make_config(municipal=[mailbox(account, monkeypatch, poll_seconds=60)])
    config = config.model_copy(
        update={
            "smtp_listener": config.smtp_listener.model_copy(update={"enabled": False}),
            "outbound": config.outbound.model_copy(update={"file_dir": tmp_path / "outbox"}),
        }
    )
    app = app_for(config, sqlite_url, classifier)

    async def run() -> None:
        stop = asyncio.Event()
        service = asyncio.create_task(serve(app, stop))
        for _ in range(300):
            if inbound(app) == 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(service, 30)

    asyncio.run(run())
    assert inbound(app) == 2 and marked(account) == [1, 2]
    assert not [t for t in threading.enumerate() if t.name.startswith("imap-")]
