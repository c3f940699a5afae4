"""Outgoing webhooks end to end: a real HTTP receiver on a loopback port gets the
ticket.created (intake), ticket.decided and ticket.resolved (desk service) events, each
signed (HMAC-SHA256 over timestamp + body, checked here with the secret) and carrying its
event id; the outbox's dispatcher retries a failing receiver with backoff (a redirect is not
followed, a long answer not read) until it answers 2xx, or the item is dead. The
configuration refuses plain http to another host, a missing secret and an unknown desk."""

from __future__ import annotations

import json
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from tests.conftest import EXAMPLE_CONFIG
from tests.console_support import NOW, mail, make_world
from triage_desk.config import ConfigError, WebhookConfig, parse_config
from triage_desk.desk_service import Conflict
from triage_desk.responders.webhooks import verify
from triage_desk.storage.models import OutboxItem, OutboxStatus

SECRET = "s3cr3t-shared-with-the-receiver"
SECRET_ENV = "TRIAGE_TEST_WEBHOOK_SECRET"
QUESTION = mail("Nevaru pieslēgties", "Labdien! Parole neder, kas jādara?")


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A small HTTP server: records each request, answers with the next planned status."""

    url: str = ""
    got: list[Delivery] = field(default_factory=list)
    plan: list[tuple[int, bytes]] = field(default_factory=list)  # then 204s; 0: no answer
    release: threading.Event = field(default_factory=threading.Event)

    def at(self, path: str) -> list[Delivery]:
        return [d for d in self.got if d.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.got.append(Delivery(self.path, dict(self.headers.items()), body))
            status, answer = state.plan.pop(0) if state.plan else (204, b"")
            if status == 0:  # never answers (until the test ends)
                state.release.wait()
                return
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def hooked_world(
    example_config, database_url, classifier, tmp_path, url: str, timeout=10.0, **outbound
):
    hooks = [
        WebhookConfig(
            name="crm",
            url=f"{url}/hook",
            events=["ticket.created", "ticket.decided", "ticket.resolved"],
            secret_env=SECRET_ENV,
            timeout_seconds=timeout,
        ),
        # Another desk's only: nothing of municipal's reaches it.
        WebhookConfig(
            name="eparaksts-only",
            url=f"{url}/eparaksts",
            events=["ticket.created"],
            desks=["eparaksts"],
            secret_env=SECRET_ENV,
        ),
    ]
    config = example_config.model_copy(
        update={
            "webhooks": hooks,
            "outbound": example_config.outbound.model_copy(update=outbound),
        }
    )
    return make_world(config, database_url, classifier, tmp_path)


@pytest.fixture
def world(example_config, database_url, classifier, tmp_path, receiver, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    built = hooked_world(example_config, database_url, classifier, tmp_path, receiver.url)
    yield built
    built.app.engine.dispose()


def webhook_items(world) -> list[OutboxItem]:
    with world.app.sessions() as session:
        return list(
            session.scalars(
                select(OutboxItem).where(OutboxItem.channel == "webhook").order_by(OutboxItem.id)
            )
        )


def assert_signed(delivery: Delivery) -> dict:
    signed_at = verify(SECRET, delivery.headers["X-Triage-Signature"], delivery.body)
    assert signed_at is not None, delivery.headers
    assert verify("another secret of some length", delivery.headers["X-Triage-Signature"],
                  delivery.body) is None  # fmt: skip
    assert verify(SECRET, delivery.headers["X-Triage-Signature"], delivery.body + b" ") is None
    event = delivery.event
    assert delivery.headers["X-Triage-Event-Id"] == event["id"]
    assert delivery.headers["X-Triage-Event"] == event["event"]
    assert delivery.headers["Content-Type"] == "application/json"
    return event


def test_created_decided_and_resolved_events_arrive_signed(world, receiver):
    number = world.mail(QUESTION)
    queued = webhook_items(world)
    assert [(i.subject, i.recipient) for i in queued] == [
        ("ticket.created", f"{receiver.url}/hook")
    ]
    report = world.app.dispatcher.run_once()
    assert report.sent == 2  # the acknowledgement (to a file) and the event
    [created] = receiver.at("/hook")
    event = assert_signed(created)
    assert event["event"] == "ticket.created"
    assert event["ticket"]["number"] == number and event["ticket"]["desk"] == "municipal"
    assert "Parole" not in created.body.decode()  # no message text leaves in an event
    assert verify(SECRET, created.headers["X-Triage-Signature"], created.body) == int(
        NOW.timestamp()
    )

    world.clock.advance(minutes=5)
    world.service.confirm(number, "agnese", override=False)
    current = world.service.ticket(number).summary.category
    target = "error" if current == "consultation" else "consultation"
    world.service.change_category(number, target, "It is a question", "sandra")
    world.service.resolve(number, "agnese")
    with pytest.raises(Conflict):
        world.service.resolve(number, "agnese")  # refused: its transaction queues nothing
    assert len(webhook_items(world)) == 4
    world.app.dispatcher.run_once()
    events = [assert_signed(d) for d in receiver.at("/hook")]
    assert [e["event"] for e in events] == [
        "ticket.created",
        "ticket.decided",
        "ticket.decided",
        "ticket.resolved",
    ]
    confirmed, changed, resolved = events[1:]
    assert confirmed["details"] == {
        "field": "category",
        "from": current,
        "to": current,
        "staff": "agnese",
        "reason": None,
    }
    assert changed["details"]["from"] == current and changed["details"]["to"] == target
    assert changed["details"]["reason"] == "It is a question"
    assert changed["ticket"]["category"] == target
    assert resolved["ticket"]["status"] == "resolved"
    assert len({e["id"] for e in events}) == 4  # one id per event
    assert receiver.at("/eparaksts") == []  # that webhook is for the other desk
    # A Telegram staff group's decisions go through a desk service with the same webhooks.
    from triage_desk.app import _webhooks_of

    assert [h.name for h in _webhooks_of(world.app.pipeline).hooks] == ["crm", "eparaksts-only"]
    assert all(i.status == OutboxStatus.SENT for i in webhook_items(world))


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(world, receiver):
    receiver.plan = [(500, b"x" * 1_000_000), (302, b""), (503, b"busy")]
    world.mail(QUESTION)
    assert world.app.dispatcher.run_once().retried == 1
    [item] = webhook_items(world)
    assert item.status == OutboxStatus.PENDING and item.attempts == 1
    assert "500" in item.last_error and len(item.last_error) < 1000  # the answer is not kept
    assert world.app.dispatcher.run_once().retried == 0  # not due before its backoff
    world.clock.advance(seconds=30)
    assert world.app.dispatcher.run_once().retried == 1
    [item] = webhook_items(world)
    assert "302" in item.last_error
    assert receiver.at("/elsewhere") == []  # a redirect is not followed
    world.clock.advance(seconds=60)
    world.app.dispatcher.run_once()
    world.clock.advance(seconds=120)
    assert world.app.dispatcher.run_once().sent == 1
    [item] = webhook_items(world)
    assert item.status == OutboxStatus.SENT and item.attempts == 4
    deliveries = receiver.at("/hook")
    assert len(deliveries) == 4
    # The same event each time (the receiver drops repeats by id), each signed afresh.
    assert len({d.body for d in deliveries}) == 1
    assert len({d.headers["X-Triage-Event-Id"] for d in deliveries}) == 1
    stamps = [verify(SECRET, d.headers["X-Triage-Signature"], d.body) for d in deliveries]
    assert stamps == sorted(stamps) and stamps[0] < stamps[-1]


def test_a_receiver_that_never_succeeds_makes_the_event_dead(
    example_config, database_url, classifier, tmp_path, receiver, monkeypatch
):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    world = hooked_world(
        example_config, database_url, classifier, tmp_path, receiver.url, max_attempts=3
    )
    try:
        receiver.plan = [(500, b"no")] * 10
        world.mail(QUESTION)
        for _ in range(4):
            world.app.dispatcher.run_once()
            world.clock.advance(hours=1)
        [item] = webhook_items(world)
        assert item.status == OutboxStatus.DEAD and item.attempts == 3
        assert len(receiver.at("/hook")) == 3
    finally:
        world.app.engine.dispose()


def test_a_receiver_that_does_not_answer_in_time_is_retried(
    example_config, database_url, classifier, tmp_path, receiver, monkeypatch
):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    world = hooked_world(
        example_config, database_url, classifier, tmp_path, receiver.url, timeout=0.5
    )
    try:
        receiver.plan = [(0, b"")]
        world.mail(QUESTION)
        assert world.app.dispatcher.run_once().retried == 1
        [item] = webhook_items(world)
        assert item.status == OutboxStatus.PENDING and "Timeout" in item.last_error
        world.clock.advance(seconds=30)
        assert world.app.dispatcher.run_once().sent == 1
        assert len(receiver.at("/hook")) == 2
    finally:
        world.app.engine.dispose()


def _raw_config(**webhook: object) -> dict:
    raw = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    hook = {
        "name": "crm",
        "url": "https://crm.example.lv/triage",
        "events": ["ticket.created"],
        "secret_env": SECRET_ENV,
    }
    raw["webhooks"] = [{**hook, **webhook}]
    return raw


def test_webhook_settings_are_validated_and_errors_name_the_key(monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    assert parse_config(_raw_config()).webhooks[0].url == "https://crm.example.lv/triage"
    assert parse_config(_raw_config(url="http://127.0.0.1:9000/x")).webhooks
    cases = {
        "https://": {"url": "http://crm.example.lv/triage"},
        "desks": {"desks": ["nowhere"]},
        "events": {"events": ["ticket.deleted"]},
        "secret": {"secret": "inline"},
    }
    for words, change in cases.items():
        with pytest.raises(ConfigError) as refused:
            parse_config(_raw_config(**change))
        assert "webhooks" in str(refused.value) and words in str(refused.value), words
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(ConfigError) as missing:
        parse_config(_raw_config())
    assert SECRET_ENV in str(missing.value) and "not set" in str(missing.value)
