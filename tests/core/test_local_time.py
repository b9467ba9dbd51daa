"""Days are the configured time zone's (issue 16, item 7): at 23:30 UTC it is 07:30 the
next morning in Beijing (``[app] timezone`` = Asia/Shanghai, the default), so "today" —
for an age, a birth date's upper bound, a move's start — is already the next day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from core import db
from core.registry.testing import make_id
from core.registry.validation import IdentifierError, parse_id_number

LATE = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)  # 2026-03-10 07:30 in Beijing


def test_today_is_beijings_at_23_30_utc(app) -> None:
    with app.app_context():
        assert str(db.local_zone()) == "Asia/Shanghai"
        assert db.local_today(LATE) == date(2026, 3, 10)
        assert db.local_today(datetime(2026, 3, 9, 15, 59, tzinfo=UTC)) == date(2026, 3, 9)


def test_outside_an_app_the_day_is_utcs() -> None:
    assert db.local_today(LATE) == date(2026, 3, 9)


@pytest.mark.parametrize("config,expected", [
    ({}, date(2026, 3, 10)), ({"app": {"timezone": "UTC"}}, date(2026, 3, 9))])
def test_a_baby_born_this_beijing_morning_can_be_registered(make_app, monkeypatch, config,
                                                            expected) -> None:
    """The ID number's birth date may not be in the future, and "the future" starts
    tomorrow in the configured zone: with the clock at 23:30 UTC a baby born on
    2026-03-10 (Beijing) is registrable in Beijing, still in the future under UTC."""
    app = make_app(config=config)
    monkeypatch.setattr(db, "utcnow", lambda: LATE)
    number = make_id(born="2026-03-10")
    with app.app_context():
        assert db.local_today() == expected
        if expected == date(2026, 3, 10):
            assert parse_id_number(number).birth_date == date(2026, 3, 10)
        else:
            with pytest.raises(IdentifierError):
                parse_id_number(number)
