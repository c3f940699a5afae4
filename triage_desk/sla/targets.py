"""Service targets as written in the service documents: "2 business_hours", "6 months"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    BUSINESS_HOURS = "business_hours"
    BUSINESS_DAYS = "business_days"
    HOURS = "hours"  # elapsed wall-clock hours, for around-the-clock categories
    MONTHS = "months"


# Words people write in config, mapped to the one unit each means.
_UNIT_ALIASES: dict[str, Unit] = {
    "business_hour": Unit.BUSINESS_HOURS,
    "business_hours": Unit.BUSINESS_HOURS,
    "bh": Unit.BUSINESS_HOURS,
    "business_day": Unit.BUSINESS_DAYS,
    "business_days": Unit.BUSINESS_DAYS,
    "working_day": Unit.BUSINESS_DAYS,
    "working_days": Unit.BUSINESS_DAYS,
    "hour": Unit.HOURS,
    "hours": Unit.HOURS,
    "month": Unit.MONTHS,
    "months": Unit.MONTHS,
}

_TARGET_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+([a-z_]+)\s*$")


@dataclass(frozen=True)
class Target:
    """A response or resolution target: an amount of one unit."""

    amount: float
    unit: Unit

    def __str__(self) -> str:
        amount = int(self.amount) if self.amount == int(self.amount) else self.amount
        return f"{amount} {self.unit.value}"


def parse_target(text: str) -> Target:
    """Parse "8 business_hours", "1 working_day", "6 months" or "0 hours".

    Raises ValueError whose message says what is accepted.
    """
    match = _TARGET_RE.match(text.lower())
    if not match:
        raise ValueError(
            f"cannot read target {text!r}; write '<number> <unit>', e.g. '8 business_hours', "
            "'5 business_days', '6 months', or leave the key out for no target"
        )
    amount, word = float(match.group(1)), match.group(2)
    unit = _UNIT_ALIASES.get(word)
    if unit is None:
        known = ", ".join(sorted({u.value for u in Unit} | {"working_days"}))
        raise ValueError(f"unknown unit {word!r} in target {text!r}; use one of {known}")
    if unit in (Unit.BUSINESS_DAYS, Unit.MONTHS) and amount != int(amount):
        raise ValueError(f"target {text!r}: {unit.value} must be a whole number")
    return Target(amount, unit)
