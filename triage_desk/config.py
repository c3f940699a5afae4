"""Configuration: one TOML file, validated once at start.

Every rule the service documents state (hours, holidays, categories, targets, who may submit)
lives here as data. Errors name the key, the bad value and the fix. Secrets never come from
the file: keys ending in ``_env`` name the environment variable that holds them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from triage_desk.addresses import is_email_address
from triage_desk.sla.targets import Target, parse_target

LANGUAGES = ("lv", "en", "ru")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FEEDBACK_CATEGORY = "feedback"  # a message that is only feedback, with no request in it
NO_FEEDBACK = "none"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
# RFC 8601 authserv-id: a value token (a host name, in practice).
_AUTHSERV_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,252}")
# Key names that look like secrets: refused in the file so nobody commits a password.
_SECRET_WORDS = ("password", "token", "secret", "api_key")


class ConfigError(Exception):
    """The configuration cannot be used; the message lists every problem and its fix."""


def _target_or_none(value: Any) -> Target | None:
    if value is None or isinstance(value, Target):
        return value
    if isinstance(value, str):
        if value.strip().lower() in ("", "none", "null"):
            return None
        return parse_target(value)
    raise ValueError(f"expected a string like '8 business_hours', got {value!r}")


def _clock_time(value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a local time 'HH:MM', e.g. '09:00', got {value!r}")


TargetField = Annotated[Target | None, BeforeValidator(_target_or_none)]
ClockTime = Annotated[dt.time, BeforeValidator(_clock_time)]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                lowered = str(key).lower()
                if any(w in lowered for w in _SECRET_WORDS) and not lowered.endswith("_env"):
                    raise ValueError(
                        f"key {key!r} looks like a secret; secrets are not read from the file: "
                        f"use '{key}_env = \"VARIABLE\"' and put the value in that environment "
                        "variable"
                    )
        return data


class ShortenedDay(Strict):
    date: dt.date
    close: ClockTime


class CalendarConfig(Strict):
    zone: str = "Europe/Riga"
    workdays: list[str] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    open: ClockTime = dt.time(9, 0)
    close: ClockTime = dt.time(17, 0)
    holidays_country: str | None = "LV"
    holidays_subdivision: str | None = None
    extra_working_days: list[dt.date] = Field(default_factory=list)
    extra_days_off: list[dt.date] = Field(default_factory=list)
    shortened_days: list[ShortenedDay] = Field(default_factory=list)

    @field_validator("zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r}; use an IANA name such as 'Europe/Riga'"
            ) from exc
        return value

    @field_validator("workdays")
    @classmethod
    def _known_days(cls, value: list[str]) -> list[str]:
        days = [d.strip().lower()[:3] for d in value]
        bad = [d for d in days if d not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown weekday(s) {bad}; use {list(WEEKDAYS)}")
        return days

    @field_validator("holidays_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if not value:
            return None
        # The registry's codes, not holidays.list_supported_countries(): that imports every
        # country's module, at each start, to list their subdivisions (bench/README.md).
        from holidays.registry import EntityLoader

        if value.upper() not in EntityLoader.get_country_codes():
            raise ValueError(
                f"the holidays package has no country {value!r}; use an ISO code such as 'LV'"
            )
        return value.upper()

    @model_validator(mode="after")
    def _open_before_close(self) -> CalendarConfig:
        if self.open >= self.close:
            raise ValueError(
                f"open {self.open:%H:%M} is not before close {self.close:%H:%M}; "
                "set open earlier than close"
            )
        for day in self.shortened_days:
            if not self.open < day.close <= self.close:
                raise ValueError(
                    f"shortened day {day.date} closes at {day.close:%H:%M}, outside "
                    f"{self.open:%H:%M}–{self.close:%H:%M}; pick a close inside the usual hours"
                )
        return self


class CategoryConfig(Strict):
    labels: dict[str, str]
    response: TargetField = None
    resolution: TargetField = None
    submitted_by: Literal["anyone", "representative"] = "anyone"
    allowed_late_share: float | None = Field(default=None, ge=0, le=100)  # percent per year
    around_the_clock: bool = False  # the clock starts at receipt, whatever the hours
    # The template that answers at once instead of the acknowledgement (24/7 routes), e.g.
    # "urgent_route" for certificate suspension.
    reply_template: str | None = Field(default=None, pattern=r"^[a-z_]+$")
    urgent: bool = False  # staff see it first; the out-of-hours queue releases it first
    priority: int = 100  # lower is more urgent when the queue is released

    @field_validator("reply_template")
    @classmethod
    def _route_template(cls, value: str | None) -> str | None:
        if value == "acknowledgement":
            return None  # the usual first reply, which is what no reply_template gives
        if value in _NOT_FIRST_REPLIES:
            raise ValueError(
                f"template {value!r} is not a first reply (it is sent for another purpose); "
                "use a route such as 'urgent_route', or remove the key for the acknowledgement"
            )
        return value

    @field_validator("labels")
    @classmethod
    def _all_languages(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [lang for lang in LANGUAGES if not value.get(lang)]
        if missing:
            raise ValueError(f"labels need every language {list(LANGUAGES)}; missing {missing}")
        return value

    def label(self, language: str) -> str:
        return self.labels.get(language) or self.labels["en"]


# Templates with a purpose of their own: they need context a first reply does not have.
_NOT_FIRST_REPLIES = frozenset(
    {
        "refusal",
        "refusal_withdrawn",
        "recategorisation",
        "resolution",
        "staff_reply",
        "undeliverable_notice",
        "chat_undeliverable_notice",
        "assistant_answer",
        "assistant_decline",
        "assistant_thanks",
    }
)


class FeedbackTypeConfig(Strict):
    labels: dict[str, str]

    _all_languages = field_validator("labels")(CategoryConfig._all_languages.__func__)


class MailboxConfig(Strict):
    """An IMAP mailbox a desk reads. The password comes from the environment variable."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # stable key for the fetch checkpoint
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    ca_file: Path | None = None  # trust this CA (self-signed servers) instead of the system's
    username: str
    password_env: str
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    # After a mail is committed: add the \Seen flag and our keyword, or move it away.
    after_commit: Literal["flag", "move"] = "flag"
    processed_folder: str | None = None
    idle: bool = True  # IMAP IDLE when the server offers it, else polling
    poll_seconds: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=200, ge=1)

    @model_validator(mode="after")
    def _move_needs_folder(self) -> MailboxConfig:
        if self.after_commit == "move" and not self.processed_folder:
            raise ValueError(
                "after_commit = 'move' needs processed_folder, e.g. processed_folder = 'Processed'"
            )
        return self

    def password(self) -> str:
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(
                f"mailbox {self.name!r}: environment variable {self.password_env} is not set; "
                "export it with the mailbox password"
            )
        return value


class AssistantConfig(Strict):
    """The virtual assistant: answers from the desk's knowledge base (templates/kb/<desk>/)."""

    enabled: bool = True
    min_score: float = Field(default=0.22, ge=0, le=1)  # below it, it says a human will answer
    max_suggestions: int = Field(default=3, ge=0, le=10)
    # Out of hours it always helps; these categories also get suggestions in working hours.
    in_hours_categories: list[str] = Field(default_factory=list)


# What Telegram accepts as a webhook's secret_token (setWebhook), and the form of a bot token.
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BOT_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]{20,}")


class TelegramConfig(Strict):
    """The Bot API server every desk's bot talks to (a self-hosted one works too)."""

    # Requests go to {api_base_url}/bot{token}/{method}, files come from
    # {api_base_url}/file/bot{token}/{file_path}.
    api_base_url: str = "https://api.telegram.org"

    @field_validator("api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value):
            raise ValueError(
                "not an http(s) URL; write the server's root, e.g. 'https://api.telegram.org'"
            )
        if value.endswith("/bot"):
            raise ValueError(
                "ends in '/bot'; write the server's root only ('https://api.telegram.org'): "
                "/bot{token} is added for each request"
            )
        return value


class DeskTelegramConfig(Strict):
    """A desk's Telegram bot. The token never lives in the file: token_env names its variable."""

    token_env: str
    # "polling": our own getUpdates loop; "webhook": Telegram posts updates to webhook_url.
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    secret_token_env: str | None = None  # webhook: Telegram sends it back in every request
    staff_chat_id: int | None = None  # optional staff group: new tickets are posted there
    # Telegram user ids of the staff who may press the group's buttons (anyone else: refused).
    staff_user_ids: list[int] = Field(default_factory=list)
    # A message within this many days of a ticket's resolution reopens it, later a new one.
    reopen_days: int = Field(default=7, ge=0)
    # The bot's @username for deep links (t.me/<username>); unset: asked of Telegram (getMe).
    username: str | None = None
    # Email acknowledgements to a requester with no chat linked yet offer a one-time deep
    # link to continue in Telegram (needs username: intake asks Telegram nothing).
    offer_link_in_email: bool = False

    @model_validator(mode="after")
    def _offer_needs_username(self) -> DeskTelegramConfig:
        if self.offer_link_in_email and not (self.username or "").lstrip("@"):
            raise ValueError(
                "offer_link_in_email = true needs username: set it to the bot's @username "
                "(the link is t.me/<username>), or set offer_link_in_email = false"
            )
        return self

    @model_validator(mode="after")
    def _staff_group(self) -> DeskTelegramConfig:
        if self.staff_chat_id is not None and self.staff_chat_id >= 0:
            raise ValueError(
                f"staff_chat_id = {self.staff_chat_id}: a group's chat id is negative (e.g. "
                "-1001234567890); add the bot to the staff group and use the group's id"
            )
        if self.staff_chat_id is not None and not self.staff_user_ids:
            raise ValueError(
                "staff_chat_id needs staff_user_ids, the Telegram user ids of the staff who "
                "may confirm or change categories there, e.g. staff_user_ids = [123456789]"
            )
        if self.staff_user_ids and self.staff_chat_id is None:
            raise ValueError(
                "staff_user_ids is for the staff group: set staff_chat_id too, or remove it"
            )
        bad = [u for u in self.staff_user_ids if u <= 0]
        if bad:
            raise ValueError(f"staff_user_ids {bad}: a Telegram user id is a positive number")
        return self

    @model_validator(mode="after")
    def _mode_needs(self) -> DeskTelegramConfig:
        if self.mode == "webhook":
            missing = [k for k in ("webhook_url", "secret_token_env") if not getattr(self, k)]
            if missing:
                raise ValueError(
                    f"mode = 'webhook' needs {' and '.join(missing)}: set webhook_url to the "
                    "public https:// address Telegram posts to and secret_token_env to the "
                    "variable holding the secret it sends back, or use mode = 'polling'"
                )
            if not self.webhook_url.startswith("https://"):  # type: ignore[union-attr]
                raise ValueError(
                    f"webhook_url = {self.webhook_url!r}: Telegram posts only to https:// "
                    "addresses; give the public https:// URL of this service"
                )
        elif self.webhook_url or self.secret_token_env:
            raise ValueError(
                "webhook_url and secret_token_env are for mode = 'webhook'; set mode = "
                "'webhook', or remove them to poll"
            )
        return self

    def token(self) -> str:
        value = os.environ.get(self.token_env)
        if not value:
            raise ConfigError(
                f"environment variable {self.token_env} is not set; export it with the bot's "
                "token from @BotFather"
            )
        return value

    def secret_token(self) -> str | None:
        return os.environ.get(self.secret_token_env) if self.secret_token_env else None


class DeskWebFormConfig(Strict):
    """The desk's public web form (``intake/web/``) at ``/form/<desk>`` on the public HTTP
    server (``[web]``): the limits a stranger's submission meets."""

    enabled: bool = False
    max_files: int = Field(default=5, ge=0, le=50)
    max_file_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    # Together at most email.max_attachment_bytes (one rule for mail and the form).
    max_message_chars: int = Field(default=20_000, gt=0)
    submissions_per_address_per_hour: int = Field(default=5, ge=1)
    submissions_per_ip_per_hour: int = Field(default=20, ge=1)
    suggestions_per_ip_per_minute: int = Field(default=60, ge=1)
    # A fetched form may be posted for this long (its token is signed and time-limited).
    token_minutes: float = Field(default=120.0, gt=0)
    # How long the POST waits for the queue runner to number the ticket; then the page says
    # the number follows by email and its status link shows it once it exists.
    wait_seconds: float = Field(default=5.0, ge=0, le=30)


class DeskConfig(Strict):
    name: str
    ticket_prefix: str = Field(pattern=r"^[A-Z]{2,6}$")
    addresses: list[str] = Field(min_length=1)
    default_language: Literal["lv", "en", "ru"] = "lv"
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    categories: dict[str, CategoryConfig] = Field(min_length=1)
    feedback_types: dict[str, FeedbackTypeConfig] = Field(default_factory=dict)
    fallback_category: str | None = None  # used when the model's category is not allowed here
    mailboxes: list[MailboxConfig] = Field(default_factory=list)
    # Contact routes quoted in replies: phone, portal, emergency_phone, survey_url, ...
    contacts: dict[str, str] = Field(default_factory=dict)
    # Where internal notices for staff go (e.g. an address that bounces); none: audit only.
    staff_address: str | None = None
    # The rule a refusal cites, per language (the standard: "the reason and the grounds").
    refusal_grounds: dict[str, str] = Field(default_factory=dict)
    # A representative-only category is refused automatically only when the model is at least
    # this sure; below it the ticket waits for staff instead of refusing on a guess.
    refusal_min_confidence: float = Field(default=0.5, ge=0, le=1)
    assistant: AssistantConfig = Field(default_factory=AssistantConfig)
    telegram: DeskTelegramConfig | None = None  # the desk's Telegram bot, if it has one
    web_form: DeskWebFormConfig = Field(default_factory=DeskWebFormConfig)

    @field_validator("addresses")
    @classmethod
    def _lowercase_addresses(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if "@" not in a]
        if bad:
            raise ValueError(f"not an email address: {bad}; write 'name@domain'")
        return [a.strip().lower() for a in value]

    @model_validator(mode="after")
    def _feedback_category_present(self) -> DeskConfig:
        if FEEDBACK_CATEGORY not in self.categories:
            raise ValueError(
                f"desk has no '{FEEDBACK_CATEGORY}' category; add [desks.<name>.categories."
                f"{FEEDBACK_CATEGORY}] for messages that are only feedback"
            )
        unknown = set(self.assistant.in_hours_categories) - set(self.categories)
        if unknown:
            raise ValueError(
                f"assistant.in_hours_categories names unknown categories {sorted(unknown)}; "
                f"use some of {sorted(self.categories)}"
            )
        if self.fallback_category and self.fallback_category not in self.categories:
            raise ValueError(
                f"fallback_category {self.fallback_category!r} is not one of this desk's "
                f"categories {sorted(self.categories)}"
            )
        return self


class ClientConfig(Strict):
    name: str
    desk: str
    domains: list[str] = Field(default_factory=list)
    representatives: list[str] = Field(default_factory=list)  # email addresses

    @field_validator("representatives")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        cleaned = [v.strip().lower() for v in value]
        bad = [v for v in cleaned if not is_email_address(v)]
        if bad:
            raise ValueError(
                f"not an email address: {bad}; write each representative as 'name@domain.tld'"
            )
        return cleaned


class SmtpListenerConfig(Strict):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=0, le=65535)
    max_message_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    # Each session may hold a whole message in memory: at most this many at once (421 over).
    max_sessions: int = Field(default=100, ge=1)
    # A DATA transfer must end within this, however slowly it trickles in; then the session
    # is closed and its buffer freed (RFC 5321 4.5.3.2.6 asks clients to wait 10 minutes).
    data_timeout_seconds: float = Field(default=600.0, gt=0)
    # STARTTLS is offered when both files are given.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> SmtpListenerConfig:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("STARTTLS needs both tls_cert_file and tls_key_file, or neither")
        for path in (self.tls_cert_file, self.tls_key_file):
            if path is not None and not Path(path).exists():
                raise ValueError(f"TLS file {path} does not exist; fix the path")
        return self


class EmailConfig(Strict):
    """Rules for inbound mail, shared by the SMTP and IMAP listeners."""

    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_attachments: int = Field(default=50, ge=0)
    # A mail whose processing (parsing, HTML, quotes, language, classification, knowledge
    # base) takes longer is quarantined, so it never blocks the ones behind.
    processing_time_limit_seconds: float = Field(default=10.0, gt=0)
    # A queued mail whose processing began this many times without ever ending (the
    # process died each time: out of memory, a crash in a C parser) is quarantined.
    max_processing_starts: int = Field(default=3, ge=1)
    # The text kept for a ticket is cut here, with a marker saying so (the raw mail keeps
    # everything); a body part is decoded only as far as this needs.
    max_text_chars: int = Field(default=200_000, gt=0)
    # Quotes nested deeper (HTML <blockquote>, "> " lines) are kept at this depth.
    max_quote_depth: int = Field(default=20, gt=0)
    # Old mail found when a mailbox is first connected is imported but not acknowledged.
    acknowledge_max_age_hours: float = Field(default=24.0, gt=0)
    acknowledgements_per_sender_per_hour: int = Field(default=5, ge=0)
    # Every desk's automatic first replies together (forged senders cannot make the desk a
    # backscatter source): over either, mail is stored, staff alerted, nobody answered.
    automatic_replies_per_desk_per_minute: int = Field(default=30, ge=0)
    automatic_replies_per_desk_per_hour: int = Field(default=300, ge=0)
    # Staff who may reply from their own mail client into a desk mailbox. A From header is
    # no proof: such mail counts as staff only with the evidence below.
    staff_addresses: list[str] = Field(default_factory=list)
    staff_domains: list[str] = Field(default_factory=list)
    # The authserv-ids of our own mail servers: their Authentication-Results headers showing
    # dkim=pass (header.d/header.i) or spf=pass (smtp.mailfrom) for the staff member's domain
    # prove a staff reply. The server must remove such headers that arrive from outside
    # (RFC 8601 section 5); none listed: no mail is taken for a staff reply.
    trusted_authserv_ids: list[str] = Field(default_factory=list)

    @field_validator("staff_addresses", "staff_domains")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.strip().lower().lstrip("@") for v in value]

    @field_validator("staff_addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if v.count("@") != 1 or not all(v.split("@"))]
        if bad:
            raise ValueError(f"not an email address: {bad}; write 'name@domain'")
        return value

    @field_validator("staff_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _DOMAIN.fullmatch(v)]
        if bad:
            raise ValueError(f"not a mail domain: {bad}; write e.g. 'example.lv'")
        return value

    @field_validator("trusted_authserv_ids")
    @classmethod
    def _authserv_ids(cls, value: list[str]) -> list[str]:
        ids = [v.strip().lower() for v in value]
        bad = [v for v in ids if not _AUTHSERV_ID.fullmatch(v)]
        if bad:
            raise ValueError(
                f"not an authserv-id: {bad}; use the first word of your mail server's "
                "Authentication-Results header, usually its host name, e.g. 'mx.example.lv'"
            )
        return ids

    def is_staff(self, address: str) -> bool:
        """Whether the address is a staff member's (the claim; evidence is checked apart)."""
        address = address.lower()
        domain = address.rsplit("@", 1)[-1]
        return address in self.staff_addresses or domain in self.staff_domains


DEFAULT_MAX_INPUT_CHARS = 20_000


class ClassifierConfig(Strict):
    """What the classifier reads, whatever the channel."""

    # Subject and body together: the classifier, language detection and the knowledge-base
    # lookup never read more of a message (long mails say what they are about early).
    max_input_chars: int = Field(default=DEFAULT_MAX_INPUT_CHARS, gt=0)


class SmtpRelayConfig(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    timeout_seconds: float = 30.0

    def password(self) -> str | None:
        return os.environ.get(self.password_env) if self.password_env else None


class OutboundConfig(Strict):
    transport: Literal["file", "smtp"] = "file"
    file_dir: Path = Path("var/outbox")
    from_name: str = "Triage Desk"
    # Staff login → the name signed under their replies; without one, the desk's name alone.
    staff_names: dict[str, str] = Field(default_factory=dict)
    smtp: SmtpRelayConfig = Field(default_factory=SmtpRelayConfig)
    max_attempts: int = Field(default=8, ge=1)
    poll_seconds: float = Field(default=1.0, gt=0)


class WebConfig(Strict):
    """The HTTP server of ``triage run`` (``web/server.py``): Telegram's webhooks (a desk in
    mode = "webhook"), later the staff console. Bind it to 127.0.0.1 behind a TLS proxy."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (tests)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]+", value):
            raise ValueError(
                "not a host name or IP address; write e.g. '127.0.0.1' (this machine only, "
                "behind a proxy) or '0.0.0.0' (every interface)"
            )
        return value


class ServiceConfig(Strict):
    database_url: str = "sqlite:///var/triage.sqlite"
    models_dir: Path = Path("var/models")
    default_desk: str = "municipal"
    # When the classifier's semantic stage (sentence embeddings, ~30 messages/s) is asked
    # about the messages its fast stage is unsure of:
    #   "deferred": after the message is stored and acknowledged, by the service's refiner
    #               (`triage refine` for a one-off); desks with a 24/7 category still ask it
    #               at once, because there the category decides the kind of first reply;
    #   "inline":   before the acknowledgement, for every desk (intake waits for it);
    #   "off":      never (the embedder is not loaded: least memory).
    semantic_stage: Literal["deferred", "inline", "off"] = "deferred"


class ConsoleConfig(Strict):
    """The staff console (``console/``), served by `triage run` when enabled."""

    enabled: bool = False  # add a user first: `triage user add NAME --role admin`
    host: str = "127.0.0.1"  # loopback: put a TLS proxy in front to reach it from elsewhere
    port: int = Field(default=8000, ge=0, le=65535)
    idle_minutes: float = Field(
        default=30.0, gt=0
    )  # a session ends this long after its last request
    absolute_hours: float = Field(default=12.0, gt=0)  # ... and this long after sign-in
    breaching_soon_minutes: float = Field(default=120.0, gt=0)  # "breaching soon" in the queue
    # Failed sign-ins per username and per address within the window before more are refused.
    login_attempts: int = Field(default=5, ge=1)
    login_window_minutes: float = Field(default=15.0, gt=0)

    @model_validator(mode="after")
    def _host(self) -> ConsoleConfig:
        if not self.host.strip():
            raise ValueError("host is empty; use 127.0.0.1 (loopback) or an address to listen on")
        return self


WEBHOOK_EVENTS = ("ticket.created", "ticket.decided", "ticket.resolved")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class WebhookConfig(Strict):
    """An outgoing webhook (``responders/webhooks.py``): the events of the chosen desks are
    POSTed to ``url`` as JSON, signed with HMAC-SHA256 by the secret in ``secret_env``."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")  # in the outbox and the audit
    url: str = Field(max_length=300)
    events: list[Literal["ticket.created", "ticket.decided", "ticket.resolved"]] = Field(
        min_length=1
    )
    desks: list[str] = Field(default_factory=list)  # empty: every desk
    secret_env: str
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and host:
            return value.strip()
        if parts.scheme == "http" and host in _LOOPBACK_HOSTS:
            return value.strip()
        raise ValueError(
            "a webhook is sent over https:// only (plain http:// only to this machine: "
            "127.0.0.1, localhost or [::1]); give the receiver's https:// URL"
        )

    def secret(self) -> str:
        value = os.environ.get(self.secret_env)
        if not value:
            raise ConfigError(
                f"webhook {self.name!r}: environment variable {self.secret_env} is not set; "
                "export the secret shared with the receiver"
            )
        return value


MIN_WEBHOOK_SECRET = 16


class Config(Strict):
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    smtp_listener: SmtpListenerConfig = Field(default_factory=SmtpListenerConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    outbound: OutboundConfig = Field(default_factory=OutboundConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    desks: dict[str, DeskConfig] = Field(min_length=1)
    clients: list[ClientConfig] = Field(default_factory=list)
    webhooks: list[WebhookConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        if self.service.default_desk not in self.desks:
            raise ValueError(
                f"service.default_desk = {self.service.default_desk!r} is not a configured "
                f"desk; use one of {sorted(self.desks)}"
            )
        self._check_prefixes()
        self._check_reply_templates()
        self._check_telegram()
        self._check_webhooks()
        seen: dict[str, str] = {}
        for name, desk in self.desks.items():
            for address in desk.addresses:
                if address in seen:
                    raise ValueError(
                        f"address {address!r} belongs to desks {seen[address]!r} and {name!r}; "
                        "each inbound address picks exactly one desk"
                    )
                seen[address] = name
        for client in self.clients:
            if client.desk not in self.desks:
                raise ValueError(
                    f"client {client.name!r} names desk {client.desk!r}; use one of "
                    f"{sorted(self.desks)}"
                )
        mailbox_names: set[str] = set()
        for name, desk in self.desks.items():
            for mailbox in desk.mailboxes:
                if mailbox.name in mailbox_names:
                    raise ValueError(
                        f"mailbox name {mailbox.name!r} is used twice (desk {name!r}); names key "
                        "the fetch checkpoints and must be unique"
                    )
                mailbox_names.add(mailbox.name)
                if mailbox.password_env not in os.environ:
                    raise ValueError(
                        f"desks.{name}.mailboxes ({mailbox.name}): password_env = "
                        f"{mailbox.password_env!r} but that environment variable is not set; "
                        "export it before starting"
                    )
        if self.outbound.transport == "smtp":
            relay = self.outbound.smtp
            if relay.password_env and relay.password_env not in os.environ:
                raise ValueError(
                    f"outbound.smtp.password_env = {relay.password_env!r} but that environment "
                    "variable is not set; export it before starting"
                )
        return self

    def _check_prefixes(self) -> None:
        owners: dict[str, str] = {}
        for name, desk in self.desks.items():
            if desk.ticket_prefix in owners:
                raise ValueError(
                    f"desks.{name}.ticket_prefix = {desk.ticket_prefix!r} is also the prefix of "
                    f"desk {owners[desk.ticket_prefix]!r}; ticket numbers must tell the desks "
                    "apart: give each desk its own prefix"
                )
            owners[desk.ticket_prefix] = name

    def _check_telegram(self) -> None:
        """Each bot's secrets are set and well formed, now rather than at its first message;
        one bot serves one desk (Telegram lets one poller per bot, and a chat must know its
        desk)."""
        token_owners: dict[str, str] = {}
        webhook_paths: dict[str, str] = {}
        for name, desk in self.desks.items():
            bot = desk.telegram
            if bot is None:
                continue
            key = f"desks.{name}.telegram"
            if bot.webhook_url is not None:
                path = urlsplit(bot.webhook_url).path or "/"
                if path in webhook_paths:
                    raise ValueError(
                        f"{key}.webhook_url = {bot.webhook_url!r}: the same path as desk "
                        f"{webhook_paths[path]!r}'s; each desk's webhook needs its own path, "
                        f"e.g. '/telegram/{name}'"
                    )
                webhook_paths[path] = name
            token = os.environ.get(bot.token_env)
            if not token:
                raise ValueError(
                    f"{key}.token_env = {bot.token_env!r} but that environment variable is not "
                    "set; export it with the bot's token from @BotFather before starting, or "
                    f"remove [{key}]"
                )
            if not _BOT_TOKEN.fullmatch(token.strip()):
                raise ValueError(
                    f"{key}.token_env = {bot.token_env!r}: the variable does not hold a bot "
                    "token (digits, a colon, then letters, digits, '_' or '-'); copy the "
                    "token @BotFather gave"
                )
            if token in token_owners:
                raise ValueError(
                    f"{key}.token_env = {bot.token_env!r}: the same bot as desk "
                    f"{token_owners[token]!r}; each desk needs its own bot (a chat belongs to "
                    "one desk, and Telegram allows one poller per bot)"
                )
            token_owners[token] = name
            if bot.secret_token_env is not None:
                secret = os.environ.get(bot.secret_token_env)
                if not secret:
                    raise ValueError(
                        f"{key}.secret_token_env = {bot.secret_token_env!r} but that "
                        "environment variable is not set; export a random secret (1-256 of "
                        "A-Z, a-z, 0-9, _ and -) before starting"
                    )
                if not _SECRET_TOKEN.fullmatch(secret):
                    raise ValueError(
                        f"{key}.secret_token_env = {bot.secret_token_env!r}: Telegram accepts "
                        "1-256 characters of A-Z, a-z, 0-9, _ and - only; export such a secret"
                    )

    def _check_webhooks(self) -> None:
        """Each webhook's desks exist, its name is its own, and its secret is set now rather
        than at its first event."""
        names: set[str] = set()
        for index, hook in enumerate(self.webhooks):
            key = f"webhooks[{index}] ({hook.name})"
            if hook.name in names:
                raise ValueError(f"{key}: the name is used twice; give each webhook its own")
            names.add(hook.name)
            for desk in hook.desks:
                if desk not in self.desks:
                    raise ValueError(
                        f"{key}.desks names {desk!r}; use one of {sorted(self.desks)}, or "
                        "leave desks out for every desk"
                    )
            secret = os.environ.get(hook.secret_env, "")
            if len(secret) < MIN_WEBHOOK_SECRET:
                raise ValueError(
                    f"{key}.secret_env = {hook.secret_env!r} but that environment variable is "
                    f"{'not set' if not secret else 'too short'}; export a random secret of at "
                    f"least {MIN_WEBHOOK_SECRET} characters (e.g. `openssl rand -hex 32`)"
                )

    def _check_reply_templates(self) -> None:
        """A reply_template must name a template that exists (checked now, not at the first
        mail that needs it, which would be an urgent one)."""
        from triage_desk.responders.template_files import PACKAGE_TEMPLATES, template_languages

        for name, desk in self.desks.items():
            for key, category in desk.categories.items():
                kind = category.reply_template
                if kind is None:
                    continue
                found = template_languages(kind, name, [PACKAGE_TEMPLATES])
                # The renderer falls back to English, so English alone covers every language.
                missing = [lang for lang in LANGUAGES if lang not in found and "en" not in found]
                if missing:
                    raise ValueError(
                        f"desks.{name}.categories.{key}.reply_template = {kind!r}: no such "
                        f"template for {missing} (looked for {kind}.<language>.txt.j2 in "
                        f"templates/{name}/ and templates/default/); name an existing one "
                        "such as 'urgent_route', or remove the key"
                    )

    def database_url(self) -> str:
        """TRIAGE_DATABASE_URL wins over the file, so tests and deployments can point elsewhere."""
        return os.environ.get("TRIAGE_DATABASE_URL") or self.service.database_url


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key; remove it or fix its spelling"
    if error["type"] == "missing":
        return f"{key}: required key is missing; add it"
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" = {value!r}"
    return f"{key}{shown}: {message}"


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(f"  - {_describe(e)}" for e in exc.errors())
        raise ConfigError(f"{source} is not valid:\n{problems}") from None


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found; pass --config or copy config.example.toml"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(raw, str(path))
