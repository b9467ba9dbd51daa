"""Journey "appointment to queue number" (预约办理) with the demo as shipped, on a 360 px
phone, in Chinese.

The resident (张大爷) opens the senior card's service page, books the first free time of
the next open day and is told so; at the office the community worker (`worker`) finds
the booking on the desk's day list (name masked) and checks them in; the resident sees
the queue number on "my appointments" and in a notification. The clock is fixed at 07:00
of the next day the service centre is open, so check-in is on the booking's day whatever
hour the suite runs at.

Screenshots: ``test-results/journeys/appointment-zh/``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from journey_kit import Journey, journey_fixtures

pytestmark = pytest.mark.e2e

SERVICE = "senior_card"

locale, app, journey, _catalogues = journey_fixtures("appointment", locales=("zh",))


@pytest.fixture
def morning(app: Any, monkeypatch: Any) -> datetime:
    """07:00 local on the next day the service centre is open; the rules read this clock."""
    from core.toolkit import local_zone as zone
    from plugins.gov_services.appointments import services as ap
    from plugins.gov_services.services import gov

    with app.app_context():
        kernel = app.extensions["shequ"]
        g, tz = gov(kernel), zone(kernel)
        day = ap.local(datetime.now(UTC), tz).date() + timedelta(days=1)
        with kernel.db.session_scope() as session:
            while not ap.periods(session, g.calendar, "service_centre", day):
                day += timedelta(days=1)
    at = datetime.combine(day, time(7, 0), tz).astimezone(UTC)
    monkeypatch.setattr(ap, "now_utc", lambda: at)
    return at


def test_book_check_in_and_see_the_queue_number(journey: Journey, morning: datetime) -> None:
    # 1. the resident books the first free time of the first open day
    resident = journey.sign_in("resident")
    resident.goto(f"/gov-services/services/{SERVICE}")
    resident.locator("#book-appointment").click()
    resident.wait_for_url(re.compile(rf"/appointments/book/{SERVICE}"))
    journey.shot(resident, "choose-day")
    resident.locator("#days a").first.click()
    resident.locator("#field-time").wait_for()
    journey.shot(resident, "choose-time")
    first = resident.locator("#field-time input[name=time]:not([disabled])").first
    chosen = first.get_attribute("value")
    first.check()
    resident.locator("#book-submit").click()
    resident.wait_for_url(re.compile(r"/gov-services/appointments/mine"))
    item = resident.locator("#my-appointments li.item").first
    assert chosen in item.inner_text() and "已预约" in item.inner_text()
    journey.shot(resident, "booked")
    journey.expect_notification(resident, "预约成功")

    # 2. the worker checks the resident in at the desk: a queue number
    worker = journey.sign_in("community_worker")
    worker.goto("/gov-services/appointments/desk?office=service_centre")
    row = worker.locator("#day-list li.item").filter(has_text="张**").first
    assert chosen in row.inner_text()
    journey.shot(worker, "desk")
    row.get_by_role("button", name="签到取号").click()
    worker.wait_for_load_state("load")
    flash = worker.locator(".flash-success").inner_text()
    number = re.search(r"A\d{3}", flash).group(0)
    journey.shot(worker, "checked-in")

    # 3. the resident sees the queue number, on the page and in a notification
    resident.goto("/gov-services/appointments/mine")
    assert number in resident.locator("#my-appointments .queue-number").first.inner_text()
    journey.shot(resident, "queue-number")
    journey.expect_notification(resident, f"您的排队号：{number}")
