"""The one working-day calendar (core/calendar.py, ``core.toolkit.working_calendar``)."""

from __future__ import annotations

from datetime import date

import pytest

from core.config import DEFAULT_CONFIG, ConfigError, load_config
from core.toolkit import Calendar, working_calendar


def test_working_days_skip_weekends_and_holidays_and_count_make_up_days():
    cal = Calendar(holidays=frozenset({date(2026, 10, 1), date(2026, 10, 2)}),
                   workdays=frozenset({date(2026, 10, 10)}))
    assert cal.add(date(2026, 9, 30), 1) == date(2026, 10, 5)  # Thu, Fri holidays; weekend
    assert cal.is_working(date(2026, 10, 10))  # a Saturday made a working day
    assert cal.between(date(2026, 9, 30), date(2026, 10, 5)) == 1
    assert cal.next_working(date(2026, 10, 3)) == date(2026, 10, 5)
    assert cal.next_working(date(2026, 10, 5)) == date(2026, 10, 5)


def test_core_calendar_comes_from_app_config_and_adds_a_plugins_own_days(make_app):
    app = make_app(config={"app": {"holidays": ["2026-12-08"], "workdays": ["2026-12-12"]}})
    cal = working_calendar({"holidays": ["2026-12-09"]}, app=app)
    assert not cal.is_working(date(2026, 12, 8))  # [app] holidays
    assert not cal.is_working(date(2026, 12, 9))  # the plugin's own list, added
    assert cal.is_working(date(2026, 12, 12))  # [app] workdays
    with app.app_context():
        assert working_calendar().holidays == frozenset({date(2026, 12, 8)})


def test_a_bad_holiday_is_a_config_error_naming_it():
    with pytest.raises(ConfigError) as err:
        load_config(DEFAULT_CONFIG, overrides={"app": {"holidays": ["2026-13-01"]}}, environ={})
    assert "2026-13-01" in str(err.value) and "holidays" in str(err.value)
