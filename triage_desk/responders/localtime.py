"""Instants shown to people: in the desk's time zone, in the person's language.

Times are stored in UTC; this module is the one place that turns them into words such as
"pirmdien, 2026. gada 30. novembrī plkst. 10:30", "Monday, 30 November 2026 at 10:30" or
"понедельник, 30 ноября 2026 г. в 10:30". Babel (CLDR) supplies the English and Russian
dates; Latvian needs forms CLDR does not have (see ``_LV_MONTHS_LOCATIVE``).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

DEFAULT_LANGUAGE = "en"

# Babel locale per language. English is British style: day before month, 24-hour clock.
_LOCALES = {"lv": "lv", "en": "en_GB", "ru": "ru"}

# The word joining date and time. CLDR has "atTime" datetime patterns for this
# ("{1} 'at' {0}", "{1} 'в' {0}"), but Babel 2.x does not expose them, only "{1}, {0}".
_AT = {"lv": " plkst. ", "en": " at ", "ru": " в "}

# Latvian: CLDR gives only the nominative ("30. novembris", "pirmdiena"). A date that says
# *when* something happens takes the locative ("30. novembrī") and the weekday its adverb
# form ("pirmdien"), as in "atbildēsim pirmdien, 2026. gada 30. novembrī". Twelve months and
# seven days are fixed grammar, so a table is simpler and safer than inflecting by rule.
_LV_MONTHS_LOCATIVE = (
    "janvārī",
    "februārī",
    "martā",
    "aprīlī",
    "maijā",
    "jūnijā",
    "jūlijā",
    "augustā",
    "septembrī",
    "oktobrī",
    "novembrī",
    "decembrī",
)
_LV_WEEKDAYS_ADVERB = (  # Monday first, as dt.date.weekday()
    "pirmdien",
    "otrdien",
    "trešdien",
    "ceturtdien",
    "piektdien",
    "sestdien",
    "svētdien",
)


def normalise_language(language: str | None) -> str:
    """``"lv"``, ``"LV"``, ``"lv-LV"``, ``"ru_RU"`` → the bare code; anything else → ``"en"``."""
    if not language:
        return DEFAULT_LANGUAGE
    code = language.strip().replace("_", "-").split("-", 1)[0].lower()
    return code if code in _LOCALES else DEFAULT_LANGUAGE


def _local(instant: dt.datetime | dt.date, zone: ZoneInfo) -> dt.datetime | dt.date:
    if isinstance(instant, dt.datetime):
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError(
                f"naive datetime {instant.isoformat()} has no time zone; pass an aware UTC "
                "instant, e.g. dt.datetime(..., tzinfo=dt.UTC)"
            )
        return instant.astimezone(zone)
    return instant


def _date_words(day: dt.date, language: str) -> str:
    if language == "lv":
        weekday = _LV_WEEKDAYS_ADVERB[day.weekday()]
        month = _LV_MONTHS_LOCATIVE[day.month - 1]
        return f"{weekday}, {day.year}. gada {day.day}. {month}"
    # en_GB full: "Monday, 30 November 2026"; ru full: "понедельник, 30 ноября 2026 г."
    # (the genitive "ноября" is CLDR's format-context month, which is what Russian needs).
    return _plain_spaces(format_date(day, "full", locale=_LOCALES[language]))


def _plain_spaces(text: str) -> str:
    # CLDR puts a narrow no-break space before Russian "г." (and other no-break spaces
    # elsewhere). They look the same but break plain-text comparison, search and copy-paste
    # into subjects, so the text people get uses ordinary spaces.
    return text.translate({0x00A0: " ", 0x202F: " ", 0x2007: " "})


@lru_cache(maxsize=4096)  # an acknowledgement batch repeats the same few due times
def format_local(instant: dt.datetime, zone: ZoneInfo, language: str) -> str:
    """An aware instant as local date and time in the language's own style.

    >>> import datetime as dt; from zoneinfo import ZoneInfo
    >>> format_local(dt.datetime(2026, 11, 30, 8, 30, tzinfo=dt.UTC), ZoneInfo("Europe/Riga"), "lv")
    'pirmdien, 2026. gada 30. novembrī plkst. 10:30'

    Unknown languages are shown in English. A naive datetime raises ValueError.
    """
    language = normalise_language(language)
    local = _local(instant, zone)
    if not isinstance(local, dt.datetime):
        raise TypeError(f"format_local needs a datetime, got {type(instant).__name__}")
    clock = _plain_spaces(format_time(local.time(), "short", locale=_LOCALES[language]))
    return f"{_date_words(local.date(), language)}{_AT[language]}{clock}"


def format_local_date(instant: dt.datetime | dt.date, zone: ZoneInfo, language: str) -> str:
    """The local date only: "pirmdien, 2026. gada 30. novembrī", "Monday, 30 November 2026".

    A datetime must be aware and is first moved into ``zone`` (the local date can differ from
    the UTC date); a plain date is shown as it is.
    """
    language = normalise_language(language)
    local = _local(instant, zone)
    day = local.date() if isinstance(local, dt.datetime) else local
    return _date_words(day, language)


def format_clock_range(start: dt.time, end: dt.time, language: str) -> str:
    """Opening hours as "09:00–17:00" (en dash, each end in the language's short time)."""
    locale = _LOCALES[normalise_language(language)]
    first, last = (_plain_spaces(format_time(t, "short", locale=locale)) for t in (start, end))
    return f"{first}–{last}"


def warm_up() -> None:
    """Load each language's locale data now (Babel reads it from disk at its first use), so
    the first reply after a start does not wait for it."""
    sample = dt.datetime(2000, 1, 3, 9, 0, tzinfo=dt.UTC)
    for language in _LOCALES:
        format_local(sample, ZoneInfo("UTC"), language)
