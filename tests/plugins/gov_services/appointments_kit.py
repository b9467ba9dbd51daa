"""What the appointment tests share: a fixed clock (Monday 2027-03-01 08:00 in
Asia/Shanghai), and residents' and staff's browser sessions, signed in through the real
login form, whose API calls carry the CSRF token as a page's script does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from core.testing import csrf_token, sign_in
from plugins.gov_services.appointments import services as ap

MON = date(2027, 3, 1)
#: 08:00 on Monday in Asia/Shanghai.
NOW = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    """Monday ``hours`` o'clock local time, in UTC."""
    return NOW + timedelta(hours=hours - 8)


class Clock:
    """The appointments' clock, set by a test (``clock.now = at(17)``)."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The appointments' clock replaced by a :class:`Clock` at Monday 08:00 (a module's
    autouse ``clock`` fixture returns this)."""
    c = Clock()
    monkeypatch.setattr(ap, "now_utc", c)
    return c


def signed_in(app: Any, username: str) -> Any:
    """A test client signed in as ``username`` through the form."""
    c = sign_in(app.test_client(), username)
    # the API with the session cookie is CSRF-checked: every request carries the token
    c.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token(c, "/gov-services/")
    return c


def clients(app: Any, names: dict[str, str]) -> Callable[[str], Any]:
    """``get(who)``: the signed-in client of ``names[who]``, made once per module."""
    cache: dict[str, Any] = {}

    def get(who: str) -> Any:
        if who not in cache:
            cache[who] = signed_in(app, names[who])
        return cache[who]

    return get
