"""Appointments publish ``gov_services.appointment.*`` (booked, changed, cancelled,
checked_in, no_show) into the outbox in the step's own transaction: exactly one event per
step, read back from the outbox; none when the step is refused (a full slot, a second
booking that day, a past time, past the cut-off); each payload loads with the declared
schema and validates against the JSON Schema the exchange serves. A fixed clock: Monday
2027-03-01 08:00 in Asia/Shanghai, Wednesday 03-03 a public holiday."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from appointments_kit import MON, NOW, at, clients, fixed_clock
from sqlalchemy import func, select

from core.events import EventError, OutboxEvent
from core.testing import build_test_app, ensure_user
from plugins.gov_services.appointments import services as ap

API = "/api/v1/gov-services/appointments"
PREFIX = "gov_services.appointment."
TUE, THU, FRI = MON + timedelta(days=1), MON + timedelta(days=3), MON + timedelta(days=4)
KEYS = {"booking_id", "service_code", "office", "person_id", "community", "state", "day",
        "time", "starts_at", "ends_at", "timezone", "channel", "queue_number", "previous_day",
        "previous_time", "previous_starts_at", "previous_ends_at", "at"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app, cleanup = build_test_app(
        tmp_path_factory.mktemp("appt_events"),
        plugins=["gov_services"],
        config={"app": {"timezone": "Asia/Shanghai", "holidays": [(MON + timedelta(days=2))
                                                                   .isoformat()]}},
    )
    yield app
    cleanup()


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    return fixed_clock(monkeypatch)


@pytest.fixture(scope="module")
def world(app):
    """Residents r1, r2, r4 (C1) and r3 (C2), verified; a worker of C1; an admin of every
    place; the service centre with two counters, open Monday to Friday, senior_card and
    longevity_allowance bookable (30 minutes, two places per slot)."""
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
                (("r1", "李明", "d1"), ("r2", "王芳", "d1"), ("r3", "赵强", "d3"),
                 ("r4", "钱伟", "d1")), start=1):
            p = rs.register_person(db, {"name": name, "id_number": make_id(date(1961, 6, seq), "M",
                                                                           seq=seq + 40),
                                        "hukou_type": "local"},
                                   bus=kernel.bus, dwelling_id=getattr(places, dw).id)
            people[key] = p.id
    for key in people:
        u = ensure_user(app, "resident", username=f"apev_{key}")
        with kernel.db.session_scope() as db:
            bind_person(db, db.get(User, u.id), people[key], method="in_person", by=None)
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
            ap.set_counter(db, "service_centre", n)
        for d in range(5):
            ap.set_hours(db, "service_centre", d, [("09:00", "12:00"), ("13:30", "17:00")])
        for code in ("senior_card", "longevity_allowance"):
            ap.set_rule(db, g, code, minutes=30, capacity=1, days_ahead=14, cutoff_hours=2,
                        active=True)
    from core.events.delivery import deliver_pending

    deliver_pending(app)
    return SimpleNamespace(kernel=kernel, people=people, users=users, C1=C1)


@pytest.fixture(scope="module")
def as_(app, world):
    return clients(app, {"worker": "test_community_worker", "admin": "test_admin",
                         **{k: f"apev_{k}" for k in world.people}})


def mark(world) -> int:
    """The outbox's last id: the events after it are the step's."""
    with world.kernel.db.session_scope() as db:
        return db.scalar(select(func.max(OutboxEvent.id))) or 0


def published(world, since: int) -> list[tuple[str, dict[str, Any]]]:
    """The appointment events committed to the outbox after ``since``, in order."""
    with world.kernel.db.session_scope() as db:
        rows = db.execute(select(OutboxEvent.name, OutboxEvent.payload).where(
            OutboxEvent.id > since, OutboxEvent.name.like(PREFIX + "%"))
            .order_by(OutboxEvent.id)).all()
    return [(n, dict(p)) for n, p in rows]


def one(world, since: int, name: str) -> dict[str, Any]:
    events = published(world, since)
    assert [n for n, _ in events] == [PREFIX + name], events
    payload = events[0][1]
    assert set(payload) == KEYS  # ids, codes and the slot: nothing else, no registry data
    return payload


def book(as_, who: str, day: date, time: str, service: str = "senior_card"):
    return as_(who).post(API, json={"service_code": service, "day": day.isoformat(),
                                    "time": time})


def test_booking_publishes_booked_with_the_slot_in_both_clocks(world, as_):
    since = mark(world)
    r = book(as_, "r1", TUE, "09:00")
    assert r.status_code == 201, r.json
    p = one(world, since, "booked")
    assert p == {
        "booking_id": r.json["id"], "service_code": "senior_card", "office": "service_centre",
        "person_id": world.people["r1"], "community": world.C1, "state": "booked",
        "day": "2027-03-02", "time": "09:00", "timezone": "Asia/Shanghai",
        "starts_at": "2027-03-02T01:00:00+00:00", "ends_at": "2027-03-02T01:30:00+00:00",
        "channel": "web", "queue_number": None, "previous_day": None, "previous_time": None,
        "previous_starts_at": None, "previous_ends_at": None,
        "at": "2027-03-01T00:00:00+00:00",
    }


def test_a_change_publishes_changed_with_the_slot_it_left(world, as_):
    bid = book(as_, "r2", TUE, "09:30").json["id"]
    since = mark(world)
    r = as_("r2").post(f"{API}/{bid}/change", json={"day": THU.isoformat(), "time": "14:00"})
    assert r.status_code == 200, r.json
    p = one(world, since, "changed")
    assert (p["booking_id"], p["state"], p["channel"]) == (bid, "booked", "web")
    assert (p["day"], p["time"], p["starts_at"]) == ("2027-03-04", "14:00",
                                                     "2027-03-04T06:00:00+00:00")
    assert (p["previous_day"], p["previous_time"], p["previous_starts_at"],
            p["previous_ends_at"]) == ("2027-03-02", "09:30", "2027-03-02T01:30:00+00:00",
                                       "2027-03-02T02:00:00+00:00")


def test_a_cancellation_publishes_cancelled(world, as_):
    bid = book(as_, "r1", TUE, "10:00", "longevity_allowance").json["id"]
    since = mark(world)
    assert as_("r1").post(f"{API}/{bid}/cancel").status_code == 200
    p = one(world, since, "cancelled")
    assert (p["booking_id"], p["state"], p["service_code"], p["time"], p["channel"]) == (
        bid, "cancelled", "longevity_allowance", "10:00", "web")


def test_check_in_at_the_desk_publishes_checked_in_with_the_queue_number(world, as_, clock):
    bid = book(as_, "r1", MON, "10:00").json["id"]
    clock.now = at(9.9)
    since = mark(world)
    r = as_("worker").post(f"{API}/{bid}/check-in")
    assert r.status_code == 200, r.json
    p = one(world, since, "checked_in")
    assert (p["booking_id"], p["state"], p["channel"]) == (bid, "checked_in", "counter")
    assert isinstance(p["queue_number"], int) and p["queue_number"] >= 1
    assert p["at"] == at(9.9).isoformat()


def test_a_missed_appointment_publishes_no_show_from_the_desk_and_the_sweep(
        app, world, as_, clock):
    from plugins.gov_services.services import gov

    at_desk = book(as_, "r2", MON, "09:00", "longevity_allowance").json["id"]
    swept = book(as_, "r4", MON, "09:00").json["id"]
    clock.now = at(9.6)
    since = mark(world)
    assert as_("admin").post(f"{API}/{at_desk}/no-show").status_code == 200
    p = one(world, since, "no_show")
    assert (p["booking_id"], p["state"], p["channel"]) == (at_desk, "no_show", "counter")
    since = mark(world)
    with app.app_context(), world.kernel.db.session_scope() as db:
        assert ap.sweep_no_shows(db, gov(world.kernel), now=at(9.8)) >= 1
    mine = [p for n, p in published(world, since) if p["booking_id"] == swept]
    assert len(mine) == 1 and mine[0]["channel"] is None and mine[0]["state"] == "no_show"
    assert {n for n, _ in published(world, since)} == {PREFIX + "no_show"}


def test_refused_steps_publish_nothing(world, as_, clock):
    assert book(as_, "r1", FRI, "11:00").status_code == 201
    assert book(as_, "r2", FRI, "11:00").status_code == 201
    since = mark(world)
    full = book(as_, "r4", FRI, "11:00")
    assert full.status_code == 409 and "time" in full.json["error"]["fields"], full.json
    double = book(as_, "r1", FRI, "14:00")
    assert double.status_code == 409 and "day" in double.json["error"]["fields"], double.json
    clock.now = at(9.2)
    past = book(as_, "r4", MON, "09:00", "longevity_allowance")
    assert past.status_code == 422 and "time" in past.json["error"]["fields"], past.json
    # a booking of 10:00 today, within the two-hour cut-off: no change, no cancellation
    clock.now = NOW
    bid = book(as_, "r4", MON, "10:30", "longevity_allowance").json["id"]
    clock.now = at(9.0)
    since = mark(world)
    assert as_("r4").post(f"{API}/{bid}/cancel").status_code == 409
    assert as_("r4").post(f"{API}/{bid}/change",
                          json={"day": THU.isoformat(), "time": "09:00"}).status_code == 409
    assert as_("worker").post(f"{API}/{bid}/no-show").status_code == 409  # not ended yet
    assert published(world, since) == []


def test_every_payload_loads_with_its_declared_schema_and_the_served_json_schema(
        app, world, as_):
    """Replays what the earlier tests published (or books one when run alone)."""
    if not published(world, 0):
        assert book(as_, "r3", THU, "09:00").status_code == 201
    events = published(world, 0)
    assert events
    bus = world.kernel.bus
    for name, payload in events:
        assert bus.validate(name, payload) == payload, name
    http = app.test_client()
    listed = {s["name"] for s in http.get("/api/v1/exchange/schemas").get_json()["schemas"]}
    verbs = ("booked", "changed", "cancelled", "checked_in", "no_show")
    assert {f"event.{PREFIX}{v}" for v in verbs} <= listed
    jsonschema = pytest.importorskip("jsonschema")
    docs = {n: http.get(f"/api/v1/exchange/schemas/event.{n}").get_json()
            for n in {n for n, _ in events}}
    for name, payload in events:
        jsonschema.validate(payload, docs[name])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**events[0][1], "person_id": "李明"}, docs[events[0][0]])
    with pytest.raises(EventError, match="name"):  # a copy of registry data is refused
        bus.validate(events[0][0], {**events[0][1], "name": "李明"})
