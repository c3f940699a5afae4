"""Desks as the running service sees them: config plus a ready business calendar."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from triage_desk.config import Config, DeskConfig
from triage_desk.sla import BusinessCalendar
from triage_desk.sla.holiday_tables import IN_MEMORY, HolidayTables

# The package's holiday tables are kept beside the models: derived data, like them.
HOLIDAYS_FOLDER = "holidays"


@dataclass(frozen=True)
class Desk:
    name: str
    config: DeskConfig
    holiday_tables: HolidayTables = field(default=IN_MEMORY, compare=False, repr=False)

    @cached_property
    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar.from_config(self.config.calendar, self.holiday_tables)

    @property
    def categories(self) -> set[str]:
        return set(self.config.categories)

    @property
    def has_around_the_clock_category(self) -> bool:
        """A category answered at any hour (e.g. certificate suspension): for such a desk the
        category decides the kind of first reply, so it must be settled before replying."""
        return any(
            rules.around_the_clock or rules.reply_template not in (None, "acknowledgement")
            for rules in self.config.categories.values()
        )

    @property
    def address(self) -> str:
        """The address replies come from: the desk's first inbound address."""
        return self.config.addresses[0]

    def category_label(self, category: str, language: str) -> str:
        found = self.config.categories.get(category)
        return found.label(language) if found else category

    def feedback_label(self, feedback_type: str, language: str) -> str | None:
        found = self.config.feedback_types.get(feedback_type)
        if found is None:
            return None
        return found.labels.get(language) or found.labels["en"]


class Desks:
    """All configured desks, and the routing from an inbound address to its desk."""

    def __init__(self, config: Config) -> None:
        tables = HolidayTables(config.service.models_dir / HOLIDAYS_FOLDER)
        self.by_name = {name: Desk(name, desk, tables) for name, desk in config.desks.items()}
        self.default = self.by_name[config.service.default_desk]
        self._by_address = {
            address: desk for desk in self.by_name.values() for address in desk.config.addresses
        }

    def __getitem__(self, name: str) -> Desk:
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(
                f"unknown desk {name!r}; configured desks: {sorted(self.by_name)}"
            ) from None

    def for_address(self, address: str) -> Desk | None:
        return self._by_address.get(address.strip().lower())

    def all_addresses(self) -> set[str]:
        return set(self._by_address)
