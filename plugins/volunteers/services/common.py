"""What the volunteers' rules share: the error, the permission check on a place, and time
in the configured zone (``app.timezone``): a resident's "this year" and an activity's
"on the day" follow the community's clock, not the server's UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.toolkit import N_, RuleError, has_permission, local_zone, scope_allows

#: Sign-up states: code → (English, Chinese).
SIGNUP_STATES: dict[str, tuple[str, str]] = {
    "signed_up": ("Signed up", "已报名"),
    "waiting": ("On the waiting list", "候补中"),
    "cancelled": ("Cancelled", "已取消"),
    "attended": ("Attended", "已签到"),
    "absent": ("Absent", "缺席"),
}
#: Sign-ups that hold a place.
HOLDING = ("signed_up", "attended")
#: The longest activity and the most hours one attendance may credit.
MAX_MINUTES = 24 * 60
MAX_CAPACITY = 10000


class VolunteerError(RuleError):
    """A rule of the volunteers' service refused a well-formed request: the API answers
    409 (404 when the object does not exist for the caller), the page shows it at the
    field."""

    status = 409




def local(at: datetime, kernel: Any = None) -> datetime:
    """``at`` (aware; naive is UTC, as stored) in the configured zone."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(local_zone(kernel))


def from_local(naive: datetime, kernel: Any = None) -> datetime:
    """A wall-clock time typed in the community's zone (a form's datetime-local, an API
    value without offset) as aware UTC; an aware value is only converted."""
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=local_zone(kernel))
    return naive.astimezone(UTC)


def year_bounds(year: int, kernel: Any = None) -> tuple[datetime, datetime]:
    """The UTC instants where the local calendar year starts and ends."""
    tz = local_zone(kernel)
    return (datetime(year, 1, 1, tzinfo=tz).astimezone(UTC),
            datetime(year + 1, 1, 1, tzinfo=tz).astimezone(UTC))


def hours_text(minutes: int) -> str:
    """Minutes as hours for people: ``90`` → ``"1.5"``, ``120`` → ``"2"``."""
    value = round(minutes / 60, 2)
    return f"{value:g}"


def minutes_of(hours: float | int | str) -> int:
    """Hours as typed (``1.5``) in whole minutes; refuses what is not a number of hours
    from 0 to 24 in steps of a quarter of an hour."""
    try:
        value = float(hours)
    except (TypeError, ValueError):
        raise VolunteerError(N_("Enter the hours as a number, such as 2 or 1.5."), "hours",
                             status=422) from None
    minutes = round(value * 60)
    if value != value or minutes < 0 or minutes > MAX_MINUTES or minutes % 15:
        raise VolunteerError(N_("Enter between 0 and 24 hours, in quarters of an hour."),
                             "hours")
    return minutes


def may_manage(user: Any, community: str | None, permission: str) -> bool:
    """Staff act on an activity only with the permission and within their places."""
    return bool(community) and has_permission(user, permission) and scope_allows(
        user, community=community)


def state_label(code: str, lang: str) -> str:
    en, zh = SIGNUP_STATES.get(code, (code, code))
    return zh if lang == "zh" else en
