"""Imports only go down the layers: cli → app, service → runners, refiner, scheduler,
desk_service → intake, responders, classifier → storage, clock, config, desks; sla below
them all, the configuration included. Read from the source (lazy imports inside
functions included), so a command or an import of the application cannot creep back into
a domain package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "triage_desk"
DOMAIN = ("desk_service", "intake", "responders", "classifier", "sla", "storage")
BASE_MODULES = ("clock.py", "config.py", "desks.py")
APPLICATION = ("triage_desk.app", "triage_desk.service", "triage_desk.demo")
COMMAND_LINE = ("click", "triage_desk.cli")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def reaching(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in paths
        for name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def _domain_files() -> list[Path]:
    files = [p for package in DOMAIN for p in (PACKAGE / package).rglob("*.py")]
    return files + [PACKAGE / name for name in BASE_MODULES]


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_exist(package):
    assert (PACKAGE / package / "__init__.py").exists()


def test_no_domain_module_imports_the_application_or_the_command_line():
    assert reaching(_domain_files(), APPLICATION + COMMAND_LINE) == []


def test_the_application_does_not_import_the_command_line():
    top = [PACKAGE / name for name in ("app.py", "service.py", "demo.py")]
    assert reaching(top, COMMAND_LINE) == []


def test_the_desk_service_is_below_every_front_end():
    files = list((PACKAGE / "desk_service").rglob("*.py"))
    assert reaching(files, ("triage_desk.cli", "triage_desk.console", "rich")) == []


def test_the_runners_are_below_the_application():
    """And know no channel: a channel's processor is handed to the queue runner."""
    runner_files = list((PACKAGE / "runners").rglob("*.py"))
    assert reaching(runner_files, EMAIL_MODULES) == []
    files = [
        *(PACKAGE / "runners").rglob("*.py"),
        PACKAGE / "refiner.py",
        PACKAGE / "scheduler.py",
    ]
    assert reaching(files, APPLICATION + COMMAND_LINE) == []


def test_sla_imports_nothing_of_the_project_but_itself():
    """Not even the configuration for its types (config imports sla.targets): due times
    are arithmetic on a calendar, whatever file it was read from."""
    files = list((PACKAGE / "sla").rglob("*.py"))
    assert reaching(files, ("triage_desk.config",)) == []
    outside = [
        found
        for found in reaching(files, ("triage_desk",))
        if not found.split(" imports ")[1].startswith("triage_desk.sla")
    ]
    assert outside == []


# What knows mail: the stdlib and third-party mail packages and intake's email adapter.
EMAIL_MODULES = (
    "email",
    "smtplib",
    "imaplib",
    "aiosmtpd",
    "imapclient",
    "authres",
    "triage_desk.intake.email",
    "triage_desk.responders.email_sender",
    "triage_desk.responders.transports",
)
# The channel-neutral intake core: the inbound queue, the decoders' registry, processing,
# the steps and what they alone build on.
CORE = (
    "steps/*.py",
    "reply_policy.py",
    "message.py",
    "pipeline.py",
    "triage.py",
    "lifecycle.py",
    "queue.py",
    "decoders.py",
    "processing.py",
    "errors.py",
)


def test_the_intake_core_imports_no_email_module():
    files = [path for pattern in CORE for path in (PACKAGE / "intake").glob(pattern)]
    assert len(files) > len(CORE)  # the steps package is there
    assert reaching(files, EMAIL_MODULES) == []


# What knows Telegram: python-telegram-bot and intake's Telegram adapter.
TELEGRAM_MODULES = ("telegram", "triage_desk.intake.telegram")


def test_the_intake_core_and_the_runners_import_no_telegram_module():
    files = [path for pattern in CORE for path in (PACKAGE / "intake").glob(pattern)]
    files += list((PACKAGE / "runners").rglob("*.py"))
    assert reaching(files, TELEGRAM_MODULES) == []
    assert (PACKAGE / "intake" / "telegram" / "decoder.py").exists()


def test_the_email_adapter_knows_no_telegram_and_the_telegram_adapter_no_email():
    email = list((PACKAGE / "intake" / "email").rglob("*.py"))
    telegram = list((PACKAGE / "intake" / "telegram").rglob("*.py"))
    assert reaching(email, TELEGRAM_MODULES) == []
    assert telegram and reaching(telegram, EMAIL_MODULES) == []


def test_the_email_check_sees_an_email_import(tmp_path):
    module = tmp_path / "step.py"
    module.write_text(
        "from email.message import Message\nimport triage_desk.intake.email.headers\n"
    )
    names = imported(module)
    assert {n for n in names if any(n == f or n.startswith(f + ".") for f in EMAIL_MODULES)} == {
        "email.message",
        "triage_desk.intake.email.headers",
    }


def test_the_toy_channel_is_built_on_the_core_alone():
    toy = PACKAGE.parent / "tests" / "test_toy_channel.py"
    names = imported(toy)
    assert "triage_desk.intake.queue" in names
    assert [n for n in names if any(n == f or n.startswith(f + ".") for f in EMAIL_MODULES)] == []
    assert not any(n.startswith(("triage_desk.app", "triage_desk.cli")) for n in names)
