"""The public web form served as `triage run` serves it (its router on a real uvicorn
server on a loopback port), over the console tests' world: a real database, the real
intake and a fixed clock. ``wake`` stores what was queued at once, as the service's queue
runner would moments later."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select

from tests.console_server import serving
from tests.console_support import ConsoleWorld
from triage_desk.config import Config
from triage_desk.intake.web.form import WebForm
from triage_desk.runners.queue import QueueRunner
from triage_desk.storage.models import OutboxItem, Ticket
from triage_desk.web.server import build_web_app


@dataclass
class Site:
    base: str
    world: ConsoleWorld
    form: WebForm
    runner: QueueRunner

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, follow_redirects=False, timeout=30)

    def tickets(self) -> list[Ticket]:
        with self.world.app.sessions() as session:
            return list(session.scalars(select(Ticket).order_by(Ticket.id)))

    def outbox(self) -> list[OutboxItem]:
        with self.world.app.sessions() as session:
            return list(session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


def form_config(config: Config, **rules: Any) -> Config:
    """``config`` with the municipal desk's form rules changed (email rules: ``email_*``)."""
    email = {k.removeprefix("email_"): v for k, v in rules.items() if k.startswith("email_")}
    form = {k: v for k, v in rules.items() if not k.startswith("email_")}
    desk = config.desks["municipal"]
    desk = desk.model_copy(update={"web_form": desk.web_form.model_copy(update=form)})
    return config.model_copy(
        update={
            "desks": {**config.desks, "municipal": desk},
            "email": config.email.model_copy(update=email),
        }
    )


@contextmanager
def site(world: ConsoleWorld, store_at_once: bool = True, **rules: Any) -> Iterator[Site]:
    app = world.app
    runner = app.queue_runner()
    form = WebForm(
        form_config(app.config, **rules),
        app.sessions,
        runner.queue,
        app.pipeline.triage.assistant,  # type: ignore[arg-type]
        world.clock,
        wake=runner.drain if store_at_once else lambda: None,
    )
    with serving(build_web_app([form.router()])) as base:
        yield Site(base, world, form, runner)


def token_of(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


def fields(client: httpx.Client, lang: str = "lv", **values: str) -> dict[str, str]:
    """A freshly fetched form's fields, filled with ``values``."""
    page = client.get(f"/form/municipal?lang={lang}")
    assert page.status_code == 200, page.text[:300]
    return {
        "token": token_of(page.text),
        "lang": lang,
        "language": lang,
        "subject": "",
        "message": "",
        "email": "",
        "website": "",
        **values,
    }
