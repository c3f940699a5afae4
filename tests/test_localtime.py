"""Local date and time wording: lv, en (British style), ru, across DST and year ends."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from triage_desk.responders.localtime import (
    format_clock_range,
    format_local,
    format_local_date,
    normalise_language,
)

RIGA = ZoneInfo("Europe/Riga")


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("instant", "language", "expected"),
    [
        # Winter time (EET, UTC+2).
        (utc(2026, 11, 30, 8, 30), "lv", "pirmdien, 2026. gada 30. novembrī plkst. 10:30"),
        (utc(2026, 11, 30, 8, 30), "en", "Monday, 30 November 2026 at 10:30"),
        (utc(2026, 11, 30, 8, 30), "ru", "понедельник, 30 ноября 2026 г. в 10:30"),
        # Summer time (EEST, UTC+3): the same local 10:30 is an hour earlier in UTC.
        (utc(2026, 3, 30, 7, 30), "lv", "pirmdien, 2026. gada 30. martā plkst. 10:30"),
        (utc(2026, 3, 30, 7, 30), "en", "Monday, 30 March 2026 at 10:30"),
        (utc(2026, 3, 30, 7, 30), "ru", "понедельник, 30 марта 2026 г. в 10:30"),
        # Spring forward on 29 March 2026: 03:00 local does not exist.
        (utc(2026, 3, 29, 0, 30), "en", "Sunday, 29 March 2026 at 02:30"),
        (utc(2026, 3, 29, 1, 30), "en", "Sunday, 29 March 2026 at 04:30"),
        # Fall back on 25 October 2026: 03:30 local happens twice.
        (utc(2026, 10, 25, 0, 30), "lv", "svētdien, 2026. gada 25. oktobrī plkst. 03:30"),
        (utc(2026, 10, 25, 1, 30), "lv", "svētdien, 2026. gada 25. oktobrī plkst. 03:30"),
        # Late evening UTC on New Year's Eve is already next year in Riga.
        (utc(2026, 12, 31, 22, 30), "lv", "piektdien, 2027. gada 1. janvārī plkst. 00:30"),
        (utc(2026, 12, 31, 22, 30), "en", "Friday, 1 January 2027 at 00:30"),
        (utc(2026, 12, 31, 22, 30), "ru", "пятница, 1 января 2027 г. в 00:30"),
        # Other weekdays and months.
        (utc(2026, 9, 1, 6, 0), "lv", "otrdien, 2026. gada 1. septembrī plkst. 09:00"),
        (utc(2026, 9, 2, 14, 5), "ru", "среда, 2 сентября 2026 г. в 17:05"),
        (utc(2026, 6, 4, 15, 0), "en", "Thursday, 4 June 2026 at 18:00"),
    ],
)
def test_format_local_exact(instant: dt.datetime, language: str, expected: str) -> None:
    assert format_local(instant, RIGA, language) == expected


def test_latvian_months_are_locative() -> None:
    months = [
        format_local_date(dt.date(2026, month, 15), RIGA, "lv").split(". ")[-1]
        for month in range(1, 13)
    ]
    assert months == [
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
    ]


def test_latvian_weekdays_are_adverbs() -> None:
    # 2026-11-30 is a Monday.
    days = [
        format_local_date(dt.date(2026, 11, 30) + dt.timedelta(days=n), RIGA, "lv").split(",")[0]
        for n in range(7)
    ]
    assert days == [
        "pirmdien",
        "otrdien",
        "trešdien",
        "ceturtdien",
        "piektdien",
        "sestdien",
        "svētdien",
    ]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("lv", "piektdien, 2027. gada 1. janvārī"),
        ("en", "Friday, 1 January 2027"),
        ("ru", "пятница, 1 января 2027 г."),
    ],
)
def test_format_local_date_uses_the_local_date(language: str, expected: str) -> None:
    # 22:30 UTC on 31 December is 00:30 on 1 January in Riga.
    assert format_local_date(utc(2026, 12, 31, 22, 30), RIGA, language) == expected


def test_format_local_date_accepts_a_plain_date() -> None:
    assert format_local_date(dt.date(2027, 5, 31), RIGA, "en") == "Monday, 31 May 2027"
    assert format_local_date(dt.date(2027, 5, 31), RIGA, "ru") == "понедельник, 31 мая 2027 г."


def test_other_aware_zones_are_converted() -> None:
    plus_five = dt.timezone(dt.timedelta(hours=5))
    instant = dt.datetime(2026, 11, 30, 13, 30, tzinfo=plus_five)  # = 08:30 UTC
    assert format_local(instant, RIGA, "en") == "Monday, 30 November 2026 at 10:30"


@pytest.mark.parametrize("language", ["de", "", "xx-YY", "EN", "en-US"])
def test_unknown_or_variant_language_is_english(language: str) -> None:
    assert format_local(utc(2026, 11, 30, 8, 30), RIGA, language) == (
        "Monday, 30 November 2026 at 10:30"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [("lv", "lv"), ("LV", "lv"), ("lv-LV", "lv"), ("ru_RU", "ru"), ("de", "en"), (None, "en")],
)
def test_normalise_language(given: str | None, expected: str) -> None:
    assert normalise_language(given) == expected


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        format_local(dt.datetime(2026, 11, 30, 10, 30), RIGA, "lv")
    with pytest.raises(ValueError, match="naive"):
        format_local_date(dt.datetime(2026, 11, 30, 10, 30), RIGA, "lv")


def test_format_clock_range() -> None:
    for language in ("lv", "en", "ru"):
        assert format_clock_range(dt.time(9), dt.time(17), language) == "09:00–17:00"
    assert format_clock_range(dt.time(9), dt.time(18), "en") == "09:00–18:00"
