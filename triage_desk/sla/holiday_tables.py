"""Public holidays from the ``holidays`` package, one country, subdivision and year at a time.

Asking the package for its first country imports the modules of every country it knows
(some 250): about 50 ms of every process start, for a few dates a year (bench/README.md).
So a year's table, once computed, can be kept as a small JSON file in a folder of derived
data (beside the models); its name carries the package's version, so a new version of the
package computes its tables again, and a missing or unreadable file is computed again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import tempfile
from pathlib import Path

import holidays

log = logging.getLogger(__name__)

# Days off, and weekend days worked instead of a day off (a transferred working day).
Table = tuple[frozenset[dt.date], frozenset[dt.date]]
_NAME_PART = re.compile(r"[^A-Za-z0-9]+")


def package_year(country: str, subdivision: str | None, year: int) -> Table:
    """One year's table, from the package.

    Neighbouring years are expanded too, so a transfer that crosses New Year (a Saturday
    worked in December for a day off in January) is found whichever year holds it.
    """
    table = holidays.country_holidays(country, subdiv=subdivision, years=range(year - 1, year + 2))
    days_off = frozenset(d for d in table if d.year == year)
    working = frozenset(d for d in getattr(table, "weekend_workdays", ()) if d.year == year)
    return days_off, working


class HolidayTables:
    """Each year's table, computed once per process; kept in ``folder`` when there is one."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._years: dict[tuple[str, str | None, int], Table] = {}

    def year(self, country: str, subdivision: str | None, year: int) -> Table:
        key = (country, subdivision, year)
        table = self._years.get(key)
        if table is None:
            table = self._read(*key)
            if table is None:
                table = package_year(*key)
                self._write(key, table)
            self._years[key] = table
        return table

    def _path(self, country: str, subdivision: str | None, year: int) -> Path | None:
        if self.folder is None:
            return None
        parts = (country, subdivision or "all", str(year), holidays.__version__)
        return self.folder / ("-".join(_NAME_PART.sub("_", part) for part in parts) + ".json")

    def _read(self, country: str, subdivision: str | None, year: int) -> Table | None:
        path = self._path(country, subdivision, year)
        if path is None:
            return None
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            return (
                frozenset(dt.date.fromisoformat(d) for d in saved["days_off"]),
                frozenset(dt.date.fromisoformat(d) for d in saved["weekend_workdays"]),
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:  # torn or foreign: again
            log.warning("cannot read the holiday table %s (%s); computing it again", path, exc)
            return None

    def _write(self, key: tuple[str, str | None, int], table: Table) -> None:
        """Atomically (a reader never sees half a file); a failure is only logged."""
        path = self._path(*key)
        if path is None:
            return
        days_off, working = table
        text = json.dumps(
            {
                "days_off": sorted(d.isoformat() for d in days_off),
                "weekend_workdays": sorted(d.isoformat() for d in working),
            }
        )
        temporary = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, path)
        except OSError as exc:
            log.warning("cannot keep the holiday table in %s: %s", path, exc)
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)


# Calendars given no tables of their own: computed once per process, kept nowhere.
IN_MEMORY = HolidayTables()
