"""The day a job was finished, as the public-works notice states it, is the configured
zone's (issue 16, item 7): work completed at 23:30 UTC was completed the next morning in
Beijing; the statistics say durations in natural units ("15分钟", not "0.25 hours")."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from plugins.commerce import services as svc
from plugins.commerce.services.common import local_date

LATE = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)


def _ticket() -> SimpleNamespace:
    return SimpleNamespace(id=7, community=None, category="repairs", completed_at=LATE,
                           description="楼道灯坏了")


def test_the_notice_dates_the_work_on_beijings_day(make_app) -> None:
    app = make_app(plugins=["commerce"])
    with app.app_context():
        payload = svc.public_works_payload(None, _ticket(), SimpleNamespace(name="和平维修"))
        assert "2026-03-10" in payload["body"] and "2026-03-09" not in payload["body"]
    utc = make_app(plugins=["commerce"], config={"app": {"timezone": "UTC"}})
    with utc.app_context():
        assert local_date(LATE) == "2026-03-09"
    assert local_date(None) == ""


def test_durations_in_natural_units() -> None:
    assert svc.duration_words(0.25) == ("15 min", "15分钟")
    assert svc.duration_words(2.5) == ("2 h 30 min", "2小时30分钟")
    assert svc.duration_words(1) == ("1 hour", "1小时")
    assert svc.duration_words(50) == ("2 days 2 h", "2天2小时")
    assert svc.duration_words(24) == ("1 day", "1天")
    assert svc.duration_words(None) == ("—", "—")
