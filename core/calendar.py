"""The working-day calendar every deadline counts in: Monday to Friday, minus the public
holidays, plus the weekend days China's holiday schedule turns into working days (调休).

It lives in core because more than one plugin counts in working days (a public service's
time limit, a government matter's time to sign and to answer, an appointment's bookable
days); two calendars would disagree the first time a district adds a holiday to one of
them. ``[app] holidays`` and ``[app] workdays`` (ISO dates) configure it;
:func:`core.toolkit.working_calendar` hands it to plugins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any


@dataclass(frozen=True)
class Calendar:
    """Working days: Monday to Friday, minus ``holidays``, plus ``workdays``."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add(self, start: date, days: int) -> date:
        """The date ``days`` working days after ``start`` (the day itself not counted)."""
        day = start
        left = max(0, days)
        while left:
            day += timedelta(days=1)
            if self.is_working(day):
                left -= 1
        return day

    def between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 if end <= start)."""
        n, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working(day):
                n += 1
        return n

    def next_working(self, day: date) -> date:
        """``day`` itself when it is a working day, else the first working day after it."""
        while not self.is_working(day):
            day += timedelta(days=1)
        return day

    def merged(self, holidays: Iterable[date] = (), workdays: Iterable[date] = ()) -> Calendar:
        """This calendar with more days added (a plugin's own list on top of core's)."""
        return Calendar(holidays=self.holidays | frozenset(holidays),
                        workdays=self.workdays | frozenset(workdays))


def calendar_from(settings: dict[str, Any]) -> Calendar:
    """A calendar from a settings dict's ``holidays`` and ``workdays`` (ISO date strings)."""
    return Calendar(
        holidays=frozenset(date.fromisoformat(d) for d in settings.get("holidays", ())),
        workdays=frozenset(date.fromisoformat(d) for d in settings.get("workdays", ())),
    )


def iso_date(value: str) -> None:
    """Validator for a config list of ISO dates: the message names the bad one."""
    from marshmallow import ValidationError

    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(f"not an ISO date: {value!r}") from None
