"""`triage demo` shows a first reply for every sample, whatever the date it runs on."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from rich.console import Console

from triage_desk.demo import run_demo, sample_emails, sample_instant

RIGA = dt.timezone(dt.timedelta(hours=2))  # the fixed offset is enough for the date logic

# A Monday in November, the eve of Christmas, a Sunday after New Year, the night the clocks
# go forward in Riga (2027-03-28), and a day in July a year and a half ahead.
DATES = [
    dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 24, 12, 0, tzinfo=dt.UTC),
    dt.datetime(2027, 1, 3, 22, 0, tzinfo=dt.UTC),
    dt.datetime(2027, 3, 28, 0, 30, tzinfo=dt.UTC),
    dt.datetime(2028, 7, 14, 9, 0, tzinfo=dt.UTC),
]


def test_a_weekday_sample_falls_on_that_weekday_in_the_week_ahead():
    today = dt.date(2026, 12, 7)  # a Monday
    friday = sample_instant({"weekday": "fri", "at": "16:30"}, today, RIGA)
    assert friday.date() == dt.date(2026, 12, 11) and friday.hour == 16
    assert sample_instant({"weekday": "mon", "at": "11:00"}, today, RIGA).date() == today


def test_a_day_of_the_year_already_past_is_taken_next_year():
    assert (
        sample_instant({"date": "12-23", "at": "17:45"}, dt.date(2026, 12, 24), RIGA).year == 2027
    )
    assert sample_instant({"date": "12-23", "at": "17:45"}, dt.date(2026, 12, 7), RIGA).year == 2026


@pytest.mark.parametrize("start", DATES, ids=lambda d: d.date().isoformat())
def test_every_sample_is_dated_within_a_year_from_the_start(start):
    samples = sample_emails(start.date(), RIGA)
    assert len(samples) == 5
    for _raw, _address, received in samples:
        assert start - dt.timedelta(days=1) <= received <= start + dt.timedelta(days=366)


@pytest.mark.parametrize("start", DATES, ids=lambda d: d.date().isoformat())
def test_the_demo_gives_every_sample_its_first_reply(start, example_config, classifier):
    out = io.StringIO()
    run_demo(Console(file=out, width=250), example_config, start=start, classifier=classifier)
    text = out.getvalue()
    assert "5 acknowledgements written" in text, text
    replies = re.findall(r"│ (acknowledgement|urgent_route|refusal) +│\n", text)
    assert len(replies) == 5, text  # every sample's row names its first reply
    assert "urgent_route" in replies  # the night-time certificate suspension


def test_the_demo_runs_on_the_real_date(example_config, classifier):
    """Whatever today is (CI also runs this under faketime at other dates)."""
    out = io.StringIO()
    run_demo(Console(file=out, width=250), example_config, classifier=classifier)
    assert "5 acknowledgements written" in out.getvalue()
