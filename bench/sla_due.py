"""Due-time arithmetic: how many ``due_times`` per second, and long business-hour targets.

    .venv/bin/python bench/sla_due.py [--rounds N] [--config config.example.toml]

For every desk of the configuration, ``due_times`` is computed for each category at 1500
arrival times spread over a year (every 347 minutes: nights, weekends, holidays, both DST
changes), ``--rounds`` times; it prints calls per second and the p50/p99 of one call. Then
it times ``add_business_hours`` for an 8000-business-hour target (1000 working days) and for
2000 forty-hour targets. The correctness of these figures is the tests' (test_sla_due.py,
test_sla_calendar.py); this only measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from triage_desk.config import load_config
from triage_desk.sla import BusinessCalendar, due_times

RIGA = ZoneInfo("Europe/Riga")
EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--config", type=Path, default=EXAMPLE)
    args = parser.parse_args()
    config = load_config(args.config)
    base = dt.datetime(2026, 1, 1, tzinfo=RIGA)
    arrivals = [base + dt.timedelta(minutes=347 * i) for i in range(1500)]

    for name, desk in config.desks.items():
        calendar = BusinessCalendar.from_config(desk.calendar)
        categories = list(desk.categories.values())
        due_times(calendar, categories[0], base)  # the year's holidays, read once
        timings: list[float] = []
        started = time.perf_counter()
        for _ in range(args.rounds):
            for received in arrivals:
                for category in categories:
                    began = time.perf_counter()
                    due_times(calendar, category, received)
                    timings.append(time.perf_counter() - began)
        total = time.perf_counter() - started
        timings.sort()
        p99 = timings[round(0.99 * (len(timings) - 1))]
        print(
            f"{name}: {len(timings)} due_times in {total:.2f} s = {len(timings) / total:,.0f}/s; "
            f"p50 {statistics.median(timings) * 1e6:.0f} us, p99 {p99 * 1e6:.0f} us"
        )

        began = time.perf_counter()
        calendar.add_business_hours(dt.datetime(2026, 11, 30, 9, tzinfo=RIGA), 8000)
        long_target = time.perf_counter() - began
        began = time.perf_counter()
        for minute in range(2000):
            start = dt.datetime(2026, 11, 27, 9, tzinfo=RIGA) + dt.timedelta(minutes=minute)
            calendar.add_business_hours(start, 40)
        forty = time.perf_counter() - began
        print(
            f"{name}: 8000 business hours in {long_target * 1000:.1f} ms; "
            f"2000 forty-hour targets in {forty * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
