"""Appointments (预约办理) through the services, the pages and the API, on one small
registry with a fixed clock (Monday 2027-03-01 08:00 in Asia/Shanghai; Wednesday 03-03 a
public holiday): setup as data, booking with its field errors, change and cancel till the
cut-off, the last place taken twice at once (PostgreSQL: two real connections), the
reminder job, the desk (check-in → queue number, call next, served), missed appointments
and the API fuzzer."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest
from appointments_kit import MON, NOW, at, clients, fixed_clock
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.testing import (
    access_count,
    assert_api_fuzzes,
    build_test_app,
    csrf_token,
    ensure_user,
)
from plugins.gov_services.appointments import services as ap

API = "/api/v1/gov-services/appointments"
TUE, WED, SAT = MON + timedelta(days=1), MON + timedelta(days=2), MON + timedelta(days=5)
THU = (MON + timedelta(days=3)).isoformat()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app, cleanup = build_test_app(
        tmp_path_factory.mktemp("appt"),
        plugins=["gov_services"],
        config={"app": {"timezone": "Asia/Shanghai", "holidays": [WED.isoformat()]}},
    )
    yield app
    cleanup()


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    return fixed_clock(monkeypatch)


@pytest.fixture(scope="module")
def world(app):
    """Residents r1, r2 (C1) and r3 (C2), r2 reading English; a worker of C1; an admin
    over all places; the service centre with two counters, hours Monday to Friday, and
    senior_card and longevity_allowance bookable (30 minutes, one place per counter: two per
    slot)."""
    from core.identity.models import User, UserScope
    from core.identity.services import bind_person
    from core.registry import services as rs
    from core.registry.testing import C1, ensure_registry, make_id, make_places
    from plugins.gov_services.services import gov

    kernel = ensure_registry(app)
    people, users = {}, {}
    with kernel.db.session_scope() as db:
        places = make_places(db)
        for seq, (key, name, dw) in enumerate(
                (("r1", "李明", "d1"), ("r2", "王芳", "d2"), ("r3", "赵强", "d3"),
                 ("r4", "钱伟", "d1")), start=1):
            p = rs.register_person(db, {"name": name, "id_number": make_id(date(1960, 5, seq), "M",
                                                                           seq=seq + 80),
                                        "hukou_type": "local"},
                                   bus=kernel.bus, dwelling_id=getattr(places, dw).id)
            people[key] = p.id
    for key in people:
        u = ensure_user(app, "resident", username=f"appt_{key}")
        with kernel.db.session_scope() as db:
            row = db.get(User, u.id)
            bind_person(db, row, people[key], method="in_person", by=None)
            if key == "r2":
                row.locale = "en"
        users[key] = u.id
    worker = ensure_user(app, "community_worker")
    admin = ensure_user(app, "admin")
    with kernel.db.session_scope() as db:
        w, a = db.get(User, worker.id), db.get(User, admin.id)
        w.scopes.append(UserScope(kind="community", code=C1))
        a.scopes.append(UserScope(kind="all", code=""))
    with app.app_context(), kernel.db.session_scope() as db:
        g = gov(kernel)
        for n in (1, 2):
            ap.set_counter(db, "service_centre", n, label_zh=f"{n}号窗口")
        for d in range(5):
            ap.set_hours(db, "service_centre", d, [("09:00", "12:00"), ("13:30", "17:00")])
        ap.set_rule(db, g, "senior_card", minutes=30, capacity=1, days_ahead=14,
                    cutoff_hours=2, active=True)
        ap.set_rule(db, g, "longevity_allowance", minutes=30, capacity=1, days_ahead=14,
                    cutoff_hours=2, active=True)
    from core.events.delivery import deliver_pending

    deliver_pending(app)
    return SimpleNamespace(kernel=kernel, people=people, users=users, worker=worker,
                           admin=admin, C1=C1)


@pytest.fixture(scope="module")
def as_(app, world):
    return clients(app, {"worker": "test_community_worker", "admin": "test_admin",
                         **{k: f"appt_{k}" for k in world.people}})


def book(app, world, who: str, day: date, time: str, service: str = "senior_card",
         now: datetime | None = None):
    from plugins.gov_services.services import gov

    with app.app_context(), world.kernel.db.session_scope() as db:
        b = ap.book(db, gov(), service_code=service, person_id=world.people[who],
                    user_id=world.users[who], community=world.C1 if who != "r3" else "C2x",
                    day=day, at=time, now=now or NOW)
        return b.id


def notes(app, world, who: str) -> list[str]:
    from core.identity.models import Notification

    with world.kernel.db.session_scope() as db:
        return [f"{n.title} | {n.body}" for n in db.scalars(
            select(Notification).where(Notification.user_id == world.users[who])
            .order_by(Notification.id))]


def booking(world, booking_id: int):
    from plugins.gov_services.appointments.models import Booking

    with world.kernel.db.session_scope() as db:
        b = db.get(Booking, booking_id)
        db.expunge(b)
        return b


# ------------------------------------------------------------------------------ setup


def test_slots_follow_hours_counters_and_the_calendar(app, world, as_):
    r = as_("r1").get(f"{API}/services/senior_card/slots?day={MON}")
    assert r.status_code == 200, r.json
    items = r.json["items"]
    assert [i["time"] for i in items][:2] == ["09:00", "09:30"] and len(items) == 13
    assert {i["capacity"] for i in items} == {2}  # one place per counter, two counters
    for closed in (WED, SAT):  # a public holiday, a weekend day
        body = as_("r1").get(f"{API}/services/senior_card/slots?day={closed}").json
        assert body["open"] is False and body["items"] == []
    assert as_("r1").get(f"{API}/services/birth_registration/slots?day={MON}").status_code == 404


def test_staff_manage_counters_hours_and_slots(app, world, as_):
    admin = as_("admin")
    r = admin.put(f"{API}/offices/police/counters/1", json={"label_zh": "流动人口窗口"})
    assert r.status_code == 200 and r.json["active"] is True
    r = admin.put(f"{API}/offices/police/hours/5", json={"periods": [["09:00", "12:00"]]})
    assert r.status_code == 200 and r.json["hours"]["5"] == [["09:00", "12:00"]]
    r = admin.put(f"{API}/offices/police/hours/1", json={"periods": [["12:00", "09:00"]]})
    assert r.status_code == 422 and "hours" in r.json["error"]["fields"]
    r = admin.put(f"{API}/rules/residence_permit", json={"minutes": 20, "capacity": 2})
    assert r.status_code == 200 and r.json["office"] == "police"
    assert admin.put(f"{API}/rules/nope", json={"minutes": 20, "capacity": 2}).status_code == 404
    # the page: one small form each, errors beside the field
    token = csrf_token(admin, "/gov-services/appointments/manage?office=police")
    r = admin.post("/gov-services/appointments/manage?office=police",
                   data={"csrf_token": token, "what": "hours", "weekday": "0",
                         "hours": "25:00-12:00"})
    assert r.status_code == 422 and "时:分" in r.get_data(as_text=True)
    r = admin.post("/gov-services/appointments/manage?office=police",
                   data={"csrf_token": token, "what": "hours", "weekday": "0",
                         "hours": "09:00-12:00, 13:00-17:00"})
    assert r.status_code == 302
    page = admin.get("/gov-services/appointments/manage?office=police").get_data(as_text=True)
    assert "13:00–17:00" in page and "流动人口窗口" in page
    # the worker may use the desk, not manage
    assert as_("worker").get("/gov-services/appointments/manage").status_code == 403


# ------------------------------------------------------------------------------ booking


def test_book_on_the_page_with_errors_at_the_field(app, world, as_):
    c = as_("r1")
    url = "/gov-services/appointments/book/senior_card"
    page = c.get(f"{url}?day={MON}")
    assert page.status_code == 200 and 'value="09:00"' in page.get_data(as_text=True)
    token = csrf_token(c, url)
    for day, time, words in (
        ((MON - timedelta(days=1)).isoformat(), "09:00", "该日期已过"),
        (WED.isoformat(), "09:00", "不办公"),
        ((MON + timedelta(days=30)).isoformat(), "09:00", "最多可提前 14 天"),
        (MON.isoformat(), "09:10", "请从提供的时段中选择"),
    ):
        r = c.post(url, data={"csrf_token": token, "day": day, "time": time})
        html = r.get_data(as_text=True)
        assert r.status_code == 422 and words in html and "error-summary" in html, words
    r = c.post(url, data={"csrf_token": token, "day": THU, "time": "10:00"})
    assert r.status_code == 302 and "/appointments/mine" in r.headers["Location"]
    # one active booking per person, service and day
    r = c.post(url, data={"csrf_token": token, "day": THU, "time": "10:30"})
    assert r.status_code == 422 and "您当天已预约过该事项" in r.get_data(as_text=True)
    mine = c.get("/gov-services/appointments/mine").get_data(as_text=True)
    assert "10:00" in mine and "已预约" in mine
    assert any(n.startswith("预约成功") and f"{THU} 10:00" in n for n in notes(app, world, "r1"))


def test_past_time_and_full_slot_through_the_api(app, world, as_, clock):
    clock.now = at(10)
    r = as_("r1").post(API, json={"service_code": "senior_card", "day": MON.isoformat(),
                                  "time": "09:30"})
    assert r.status_code == 422 and "time" in r.json["error"]["fields"]
    friday = (MON + timedelta(days=4)).isoformat()
    for who in ("r2", "r3"):
        r = as_(who).post(API, json={"service_code": "senior_card", "day": friday,
                                     "time": "09:00"})
        assert r.status_code == 201, r.json
    r = as_("r1").post(API, json={"service_code": "senior_card", "day": friday, "time": "09:00"})
    assert r.status_code == 409 and "已约满" in r.json["error"]["fields"]["time"][0]
    slots = as_("r1").get(f"{API}/services/senior_card/slots?day={friday}").json["items"]
    assert slots[0]["free"] == 0 and slots[1]["free"] == 2
    r = as_("r1").post(API, json={"service_code": "senior_card", "day": friday, "time": "9:00",
                                  "extra": 1})
    assert r.status_code == 422


def test_change_and_cancel_till_the_cut_off(app, world, as_, clock):
    next_mon = (MON + timedelta(days=7)).isoformat()
    r = as_("r2").post(API, json={"service_code": "senior_card", "day": next_mon,
                                  "time": "09:00"})
    bid = r.json["id"]
    r = as_("r2").post(f"{API}/{bid}/change", json={"day": next_mon, "time": "14:00"})
    assert r.status_code == 200 and r.json["time"] == "14:00"
    slots = {s["time"]: s["free"] for s in as_("r2").get(
        f"{API}/services/senior_card/slots?day={next_mon}").json["items"]}
    assert slots["09:00"] == 2 and slots["14:00"] == 1  # the old place is free again
    assert as_("r1").post(f"{API}/{bid}/cancel").status_code == 404  # not r1's
    assert as_("r1").get(f"{API}/{bid}").status_code == 404
    clock.now = datetime.fromisoformat(f"{next_mon}T05:30:00+00:00")  # 13:30 local
    r = as_("r2").post(f"{API}/{bid}/cancel")
    assert r.status_code == 409 and "2 hours before" in r.json["error"]["message"]
    clock.now = NOW
    r = as_("r2").post(f"{API}/{bid}/cancel")
    assert r.status_code == 200 and r.json["state"] == "cancelled"
    assert as_("r2").post(f"{API}/{bid}/cancel").status_code == 409
    # cancelled: the person may book that day again
    r = as_("r2").post(API, json={"service_code": "senior_card", "day": next_mon,
                                  "time": "09:00"})
    assert r.status_code == 201
    titles = notes(app, world, "r2")
    assert any(t.startswith("Appointment cancelled") for t in titles)  # r2 reads English


def test_one_seat_is_one_row(app, world):
    """The constraint itself, on every backend: a second active booking of the same seat
    is refused by the database."""
    from plugins.gov_services.appointments.models import Booking

    bid = book(app, world, "r1", TUE, "16:00")
    b = booking(world, bid)
    with pytest.raises(IntegrityError), world.kernel.db.session_scope() as db:
        db.add(Booking(service_code=b.service_code, office=b.office, person_id=world.people["r3"],
                       community="C2x", day=b.day, starts_at=b.starts_at, ends_at=b.ends_at,
                       seat=b.seat, active_day=b.day, state="booked"))
        db.flush()


def test_two_residents_take_the_last_place_at_once(app, world, monkeypatch):
    """PostgreSQL, two real connections: both see one place left, both insert; the seat's
    unique constraint lets exactly one win, the other is told the time is full."""
    if world.kernel.db.engine.dialect.name != "postgresql":
        pytest.skip("two writers at once need PostgreSQL (SQLite serialises writers)")
    from plugins.gov_services.services import gov

    day = MON + timedelta(days=8)
    book(app, world, "r3", day, "15:00")  # one of the two places taken
    barrier = threading.Barrier(2, timeout=10)
    seen = threading.local()
    original = ap._double

    def synchronised(*args, **kwargs):
        found = original(*args, **kwargs)
        if not getattr(seen, "done", False):
            seen.done = True
            barrier.wait()  # both have passed every check before either inserts
        return found

    monkeypatch.setattr(ap, "_double", synchronised)
    results: dict[str, str] = {}

    def attempt(who: str) -> None:
        try:
            with app.app_context(), world.kernel.db.session_scope() as db:
                ap.book(db, gov(), service_code="senior_card", person_id=world.people[who],
                        user_id=world.users[who], community=world.C1, day=day, at="15:00",
                        now=NOW)
            results[who] = "won"
        except ap.SlotTaken as exc:
            results[who] = exc.field
        except Exception as exc:  # pragma: no cover - shown in the assertion
            results[who] = repr(exc)

    threads = [threading.Thread(target=attempt, args=(w,)) for w in ("r1", "r2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results.values()) == ["time", "won"], results


# ------------------------------------------------------------------------------ jobs


def test_reminder_the_day_before_in_the_residents_language(app, world, clock):
    from plugins.gov_services.appointments.jobs import reminders

    b1 = book(app, world, "r4", TUE, "09:00")
    b2 = book(app, world, "r2", TUE, "09:00")
    clock.now = at(18)  # Monday evening
    sent = int(reminders(app).rsplit(" ", 1)[1])
    assert sent >= 2  # (other tests' Tuesday bookings too)
    assert reminders(app) == "reminders sent: 0"  # idempotent
    zh = [n for n in notes(app, world, "r4") if n.startswith("提醒")]
    en = [n for n in notes(app, world, "r2") if n.startswith("Reminder")]
    assert any("2027-03-02 09:00" in n for n in zh), zh  # the office's local time
    assert len(en) == 1 and "2027-03-02 09:00" in en[0], en
    assert booking(world, b1).reminded_at is not None and booking(world, b2).reminded_at


def test_missed_appointments_are_marked_told_and_noted(app, world, as_, clock):
    from plugins.gov_services.appointments.jobs import no_shows

    clock.now = at(8)
    b = book(app, world, "r3", MON, "09:00")
    clock.now = at(9.75)  # 09:45: 30 minutes after the slot's end
    assert no_shows(app) == "missed appointments: 1"
    assert booking(world, b).state == "no_show"
    assert any("Missed appointment" in n or "未按时" in n or "爽约" in n
               for n in notes(app, world, "r3"))
    assert no_shows(app) == "missed appointments: 0"
    # the staff step for a booking whose slot has not ended is refused
    clock.now = at(8)
    later = book(app, world, "r4", MON, "16:30")
    assert as_("admin").post(f"{API}/{later}/no-show").json["error"]["message"]


# ------------------------------------------------------------------------------ the desk


def test_desk_check_in_queue_numbers_call_next_served(app, world, as_, clock):
    clock.now = at(8)
    b1 = book(app, world, "r1", MON, "11:00")
    b2 = book(app, world, "r2", MON, "11:00")
    b3 = book(app, world, "r3", MON, "11:30", service="longevity_allowance")  # C2: not the worker's
    w = as_("worker")
    page = w.get("/gov-services/appointments/desk?office=service_centre")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "李*" in html and "王*" in html and "赵" not in html
    assert access_count(app, world.people["r1"]) >= 1  # the day list is in r1's log
    token = csrf_token(w, "/gov-services/appointments/desk")
    clock.now = at(10.9)
    r = w.post(f"/gov-services/appointments/{b1}/check-in", data={"csrf_token": token})
    assert r.status_code == 302
    r = w.post(f"{API}/{b2}/check-in")
    assert r.status_code == 200 and r.json["queue_number"] == "A002"
    assert w.post(f"{API}/{b2}/check-in").status_code == 409  # twice
    assert w.post(f"{API}/{b3}/check-in").status_code == 404  # not in the worker's places
    mine = as_("r1").get(f"{API}/mine").json["items"]
    assert [i["queue_number"] for i in mine if i["id"] == b1] == ["A001"]
    html = as_("r1").get("/gov-services/appointments/mine").get_data(as_text=True)
    assert "A001" in html
    assert any("A001" in n for n in notes(app, world, "r1"))
    r = w.post(f"{API}/call-next", json={"office": "service_centre", "counter": 2})
    assert r.status_code == 200 and r.json["called"]["id"] == b1
    assert r.json["called"]["counter"] == 2
    assert w.post(f"{API}/{b1}/served").json["state"] == "served"
    body = w.get(f"{API}/desk?office=service_centre").json
    ids = {i["id"] for i in body["items"]}
    assert b1 in ids and b3 not in ids
    assert all(i["name"].endswith("*") for i in body["items"])
    # tomorrow's booking cannot be checked in today
    tomorrow = book(app, world, "r1", MON + timedelta(days=9), "10:30")
    assert w.post(f"{API}/{tomorrow}/check-in").status_code == 409


def test_queue_numbers_are_unique_per_office_and_day(app, world):
    from plugins.gov_services.appointments.models import Booking

    day = MON + timedelta(days=10)
    with pytest.raises(IntegrityError), world.kernel.db.session_scope() as db:
        for person in (1, 2):
            db.add(Booking(service_code="x_service", office="service_centre",
                           person_id=person, day=day, starts_at=NOW, ends_at=NOW,
                           state="checked_in", queue_no=1))
        db.flush()


# ------------------------------------------------------------------------------ the API


def test_appointments_api_survives_the_fuzzer(app, world):
    assert_api_fuzzes(app, API, max_examples=10)
