"""Days are the configured time zone's (issue 16, item 7; issue 21, "one rule once"): at
23:30 UTC it is 07:30 the next morning in Beijing (``[app] timezone`` = Asia/Shanghai, the
default), so "today" — for an age, a birth date's upper bound, a move's start, a deadline —
is already the next day. ``core.db.local_zone``/``local_today`` (the toolkit's) are the one
rule: inside a request, in a job or handler given the kernel, and the documented default
when nothing configures a zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from core import db, toolkit
from core.config import load_config
from core.current import kernel_of
from core.jobs import Job, run_job
from core.registry.testing import make_id
from core.registry.validation import IdentifierError, parse_id_number

LATE = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)  # 2026-03-10 07:30 in Beijing
#: 2026-12-08 00:30 in Beijing, still 2026-12-07 in UTC and in New York.
BOUNDARY = datetime(2026, 12, 7, 16, 30, tzinfo=UTC)


def test_today_is_beijings_at_23_30_utc(app) -> None:
    with app.app_context():
        assert str(db.local_zone()) == "Asia/Shanghai"
        assert db.local_today(LATE) == date(2026, 3, 10)
        assert db.local_today(datetime(2026, 3, 9, 15, 59, tzinfo=UTC)) == date(2026, 3, 9)


def test_the_day_boundary_is_the_local_midnight(app) -> None:
    """16:00 UTC is midnight in Beijing: 16:30 UTC on 7 December is 8 December there."""
    with app.app_context():
        assert db.local_today(BOUNDARY) == date(2026, 12, 8)
        assert db.local_today(datetime(2026, 12, 7, 15, 59, tzinfo=UTC)) == date(2026, 12, 7)
        assert BOUNDARY.astimezone(db.local_zone()).date() == date(2026, 12, 8)


def test_the_configured_zone_is_used_inside_a_request(make_app) -> None:
    app = make_app(config={"app": {"timezone": "America/New_York"}})
    with app.test_request_context("/"):
        assert str(toolkit.local_zone()) == "America/New_York"
        assert toolkit.local_today(BOUNDARY) == date(2026, 12, 7)  # 11:30 in New York
    with app.test_client() as client:
        client.get("/")  # a real request: the context stays open until the block ends
        assert str(db.local_zone()) == "America/New_York"


def test_a_job_or_handler_given_the_kernel_uses_its_zone(make_app) -> None:
    """A job, an event handler or a CLI step holding the kernel gets its app's zone outside
    any context too, and the kernel it names wins over whichever app is current."""
    beijing = make_app()
    new_york = make_app(config={"app": {"timezone": "America/New_York"}})
    kernel = kernel_of(new_york)
    assert str(db.local_zone(kernel)) == "America/New_York"  # no context at all
    assert db.local_today(BOUNDARY, kernel=kernel) == date(2026, 12, 7)
    with beijing.app_context():
        assert db.local_today(BOUNDARY) == date(2026, 12, 8)
        assert db.local_today(BOUNDARY, kernel=kernel) == date(2026, 12, 7)

    seen: list[date] = []

    def job(app) -> str:
        seen.append(toolkit.local_today(BOUNDARY, kernel=kernel_of(app)))
        seen.append(toolkit.local_today(BOUNDARY))  # the worker's app context
        return "ok"

    assert run_job(new_york, Job("test.local_day", 60, job)) == (True, "ok")
    assert seen == [date(2026, 12, 7), date(2026, 12, 7)]


def test_the_documented_default_when_unset(tmp_path: Path) -> None:
    """A config file without ``timezone`` gets Asia/Shanghai (the schema's default, what
    docs/operations.md documents), and so does code with no app and no kernel — not UTC,
    which would put "today" a day behind Beijing every evening from 16:00 UTC."""
    path = tmp_path / "shequ.toml"
    path.write_text('[app]\nname = "Test"\n', encoding="utf-8")
    config = load_config(path, environ={})
    assert config.app["timezone"] == db.DEFAULT_TIMEZONE == "Asia/Shanghai"
    assert str(db.local_zone()) == "Asia/Shanghai"  # outside any app
    assert db.local_today(BOUNDARY) == date(2026, 12, 8)
    assert db.local_today(LATE) == date(2026, 3, 10)
    blank = SimpleNamespace(config=SimpleNamespace(app={"timezone": ""}))
    assert str(db.local_zone(blank)) == "Asia/Shanghai"


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
