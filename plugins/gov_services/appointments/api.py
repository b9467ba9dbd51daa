"""The appointments API, under ``/api/v1/gov-services/appointments``: every page action
(slots, book, change, cancel, mine; staff: day list, check-in, call next, served,
no-show, manage slots). A field rule answers 422 with the field named; a full slot, a
double booking or a step the booking's state does not allow 409; someone else's booking
or a booking outside the caller's places 404."""

from __future__ import annotations

from datetime import date
from typing import Any

import flask
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy import select

from core.toolkit import (
    MAX_ID,
    ApiBlueprint,
    current_session,
    endpoint,
    local_zone,
    mask_name,
    refuse,
)
from plugins.gov_services.appointments import BOOK, HANDLE_APPT, MANAGE_APPT
from plugins.gov_services.appointments import services as ap
from plugins.gov_services.appointments.models import Booking, SlotRule
from plugins.gov_services.appointments.schemas import (
    BookIn,
    BookingList,
    BookingOut,
    CallNextIn,
    CallNextOut,
    ChangeIn,
    CounterIn,
    CounterOut,
    DayList,
    DayQuery,
    HoursIn,
    OfficeSetup,
    RuleIn,
    RuleOut,
    SlotList,
    SlotQuery,
)
from plugins.gov_services.services import gov, reader_for

blp = ApiBlueprint("gov_services_appt_api", __name__,
                   description="Appointments for counter services (预约办理)")
VERIFIED = "Not a verified resident"


def booking_out(b: Booking) -> dict[str, Any]:
    start = ap.local(b.starts_at, local_zone())
    return {"id": b.id, "service_code": b.service_code, "office": b.office, "day": b.day,
            "time": start.strftime("%H:%M"), "starts_at": b.starts_at, "ends_at": b.ends_at,
            "state": b.state, "queue_number": ap.queue_label(b.queue_no) or None,
            "counter": b.counter}


def _verified() -> None:
    if not current_user.is_verified:
        flask.abort(403, description="Verify your account first.")


def _own(booking_id: int) -> Booking:
    _verified()
    b = current_session().get(Booking, booking_id) if 0 < booking_id <= MAX_ID else None
    if b is None or b.person_id != current_user.person_id:
        abort(404)
    return b


def _staff(booking_id: int) -> Booking:
    b = current_session().get(Booking, booking_id) if 0 < booking_id <= MAX_ID else None
    if b is None or not ap.may_handle(current_user, b):
        abort(404)
    return b


def _office(code: str) -> str:
    if code not in gov().catalogue.offices:
        abort(404)
    return code


@blp.route("/appointments/services/<string:gs_service>/slots")
class Slots(MethodView):
    @endpoint(blp, errors=(404, 422), descriptions={404: "The service cannot be booked"})
    @blp.arguments(SlotQuery, location="query")
    @blp.response(200, SlotList)
    def get(self, args, gs_service):
        """The service's times on a day with the places left (public: knowing when one
        could come needs no account). A closed day has ``open: false`` and no items."""
        g = gov()
        session = current_session()
        rule = ap.rule_for(session, gs_service) if g.catalogue.get(gs_service) else None
        if rule is None:
            abort(404)
        day: date = args["day"]
        is_open = bool(ap.periods(session, g.calendar, rule.office, day))
        items = [{"time": s.time, "starts_at": s.start, "ends_at": s.end,
                  "capacity": s.capacity, "free": s.free}
                 for s in ap.slots(session, g.calendar, rule, day)] if is_open else []
        return {"service_code": gs_service, "office": rule.office, "day": day,
                "open": is_open, "items": items}


@blp.route("/appointments")
class Appointments(MethodView):
    @endpoint(blp, BOOK, errors=(404, 409, 422),
              descriptions={403: VERIFIED, 404: "The service cannot be booked",
                            409: "The time is full, or you already have a booking that day",
                            422: "A past time, a closed day, or not a time offered"})
    @blp.arguments(BookIn)
    @blp.response(201, BookingOut)
    def post(self, data):
        """Book a time as the signed-in verified resident; told by notification."""
        _verified()
        g = gov()
        session = current_session()
        person = reader_for(session, g, current_user, "appointment booking").person(
            current_user.person_id)
        try:
            b = ap.book(session, g, service_code=data["service_code"],
                        person_id=current_user.person_id, user_id=current_user.id,
                        community=person.get("community"), day=data["day"], at=data["time"],
                        channel=ap.channel_of(current_user))
        except ap.AppointmentError as exc:
            session.rollback()
            refuse(exc)
        session.commit()
        return booking_out(b)


@blp.route("/appointments/mine")
class Mine(MethodView):
    @endpoint(blp, BOOK, descriptions={403: VERIFIED})
    @blp.response(200, BookingList)
    def get(self):
        """My appointments, newest first, with the queue number once checked in."""
        _verified()
        rows = ap.my_bookings(current_session(), current_user.person_id)
        return {"items": [booking_out(b) for b in rows]}


@blp.route("/appointments/<int:gs_booking_id>")
class AppointmentItem(MethodView):
    @endpoint(blp, BOOK, errors=(404,), descriptions={404: "Not your appointment"})
    @blp.response(200, BookingOut)
    def get(self, gs_booking_id):
        """One of my appointments."""
        return booking_out(_own(gs_booking_id))


@blp.route("/appointments/<int:gs_booking_id>/change")
class AppointmentChange(MethodView):
    @endpoint(blp, BOOK, errors=(404, 409, 422),
              descriptions={409: "Past the cut-off, the time is full, or not booked"})
    @blp.arguments(ChangeIn)
    @blp.response(200, BookingOut)
    def post(self, data, gs_booking_id):
        """Move my appointment to another time (till the cut-off)."""
        g = gov()
        session = current_session()
        b = _own(gs_booking_id)
        try:
            ap.change(session, g, b, day=data["day"], at=data["time"],
                      channel=ap.channel_of(current_user))
        except ap.AppointmentError as exc:
            session.rollback()
            refuse(exc)
        session.commit()
        return booking_out(b)


@blp.route("/appointments/<int:gs_booking_id>/cancel")
class AppointmentCancel(MethodView):
    @endpoint(blp, BOOK, errors=(404, 409), descriptions={409: "Past the cut-off, or not booked"})
    @blp.response(200, BookingOut)
    def post(self, gs_booking_id):
        """Cancel my appointment (till the cut-off): the place is free again."""
        g = gov()
        session = current_session()
        b = _own(gs_booking_id)
        try:
            ap.cancel(session, g, b, channel=ap.channel_of(current_user))
        except ap.AppointmentError as exc:
            session.rollback()
            refuse(exc)
        session.commit()
        return booking_out(b)


# ------------------------------------------------------------------------------ staff


@blp.route("/appointments/desk")
class Desk(MethodView):
    @endpoint(blp, HANDLE_APPT, errors=(404, 422), descriptions={404: "No such office"})
    @blp.arguments(DayQuery, location="query")
    @blp.response(200, DayList)
    def get(self, args):
        """The office's day list within the caller's places (names masked; each display
        in the person's access log), with the recent missed appointments per person."""
        g = gov()
        session = current_session()
        office = _office(args["office"])
        day = args.get("day") or ap.local(ap.now_utc(), local_zone()).date()
        rows = ap.day_list(session, current_user, office, day)
        ids = sorted({b.person_id for b in rows})
        names = {}
        if ids:
            reader = reader_for(session, g, current_user, f"appointments day list {day}")
            names = {p["id"]: mask_name(p.get("name") or "") for p in reader.persons(ids)}
        missed = ap.no_show_counts(session, ids, ap.now_utc())
        items = [{**booking_out(b), "person_id": b.person_id, "name": names.get(b.person_id, ""),
                  "missed_recently": missed.get(b.person_id, 0)} for b in rows]
        session.commit()
        return {"office": office, "day": day, "items": items}


def _step(gs_booking_id: int, step: str) -> dict[str, Any]:
    g = gov()
    session = current_session()
    b = _staff(gs_booking_id)
    try:
        if step == "check_in":
            ap.check_in(session, g, b)
        elif step == "served":
            ap.serve(session, b)
        else:
            ap.mark_no_show(session, g, b)
    except ap.AppointmentError as exc:
        session.rollback()
        refuse(exc)
    session.commit()
    return booking_out(b)


@blp.route("/appointments/<int:gs_booking_id>/check-in")
class CheckIn(MethodView):
    @endpoint(blp, HANDLE_APPT, errors=(404, 409),
              descriptions={409: "Not booked, or not today"})
    @blp.response(200, BookingOut)
    def post(self, gs_booking_id):
        """The resident is here: the next queue number of the office's day."""
        return _step(gs_booking_id, "check_in")


@blp.route("/appointments/<int:gs_booking_id>/served")
class Served(MethodView):
    @endpoint(blp, HANDLE_APPT, errors=(404, 409), descriptions={409: "Not checked in"})
    @blp.response(200, BookingOut)
    def post(self, gs_booking_id):
        """Served at the counter."""
        return _step(gs_booking_id, "served")


@blp.route("/appointments/<int:gs_booking_id>/no-show")
class NoShow(MethodView):
    @endpoint(blp, HANDLE_APPT, errors=(404, 409),
              descriptions={409: "Not booked, or the slot has not ended"})
    @blp.response(200, BookingOut)
    def post(self, gs_booking_id):
        """Nobody came: missed (after the slot's end); the resident is told."""
        return _step(gs_booking_id, "no_show")


@blp.route("/appointments/call-next")
class CallNext(MethodView):
    @endpoint(blp, HANDLE_APPT, errors=(404, 422), descriptions={404: "No such office"})
    @blp.arguments(CallNextIn)
    @blp.response(200, CallNextOut)
    def post(self, data):
        """Call the lowest waiting number (within the caller's places) to a counter;
        ``called`` is null when nobody is waiting."""
        session = current_session()
        b = ap.call_next(session, gov(), current_user, _office(data["office"]), data["counter"])
        session.commit()
        return {"called": booking_out(b) if b else None}


# ------------------------------------------------------------------------------ manage


def _setup(office: str) -> dict[str, Any]:
    session = current_session()
    rules = session.scalars(select(SlotRule).where(SlotRule.office == office)
                            .order_by(SlotRule.service_code))
    return {
        "office": office,
        "counters": [{"number": c.number, "label_zh": c.label_zh, "label_en": c.label_en,
                      "active": c.active} for c in ap.counters(session, office, active_only=False)],
        "hours": {str(d): [list(p) for p in ps] for d, ps in ap.hours(session, office).items()},
        "rules": [_rule_out(r) for r in rules],
    }


def _rule_out(r: SlotRule) -> dict[str, Any]:
    return {"service_code": r.service_code, "office": r.office, "minutes": r.minutes,
            "capacity": r.capacity, "days_ahead": r.days_ahead,
            "cutoff_hours": r.cutoff_hours, "active": r.active}


@blp.route("/appointments/offices/<string:gs_office>")
class OfficeItem(MethodView):
    @endpoint(blp, MANAGE_APPT, errors=(404,), descriptions={404: "No such office"})
    @blp.response(200, OfficeSetup)
    def get(self, gs_office):
        """An office's counters, opening hours and bookable services."""
        return _setup(_office(gs_office))


@blp.route("/appointments/offices/<string:gs_office>/hours/<int:gs_weekday>")
class OfficeHours(MethodView):
    @endpoint(blp, MANAGE_APPT, errors=(404, 422), descriptions={404: "No such office or weekday"})
    @blp.arguments(HoursIn)
    @blp.response(200, OfficeSetup)
    def put(self, data, gs_office, gs_weekday):
        """Replace a weekday's opening periods (``[]``: closed that weekday)."""
        office = _office(gs_office)
        if not 0 <= gs_weekday <= 6:
            abort(404)
        session = current_session()
        try:
            ap.set_hours(session, office, gs_weekday, [tuple(p) for p in data["periods"]])
        except ap.AppointmentError as exc:
            session.rollback()
            refuse(exc)
        session.commit()
        return _setup(office)


@blp.route("/appointments/offices/<string:gs_office>/counters/<int:gs_counter>")
class OfficeCounter(MethodView):
    @endpoint(blp, MANAGE_APPT, errors=(404, 422), descriptions={404: "No such office"})
    @blp.arguments(CounterIn)
    @blp.response(200, CounterOut)
    def put(self, data, gs_office, gs_counter):
        """Add or change a counter (a closed one adds no places)."""
        office = _office(gs_office)
        session = current_session()
        try:
            c = ap.set_counter(session, office, gs_counter, label_zh=data["label_zh"],
                               label_en=data["label_en"], active=data["active"])
        except ap.AppointmentError as exc:
            session.rollback()
            refuse(exc)
        session.commit()
        return {"number": c.number, "label_zh": c.label_zh, "label_en": c.label_en,
                "active": c.active}


@blp.route("/appointments/rules/<string:gs_service>")
class Rule(MethodView):
    @endpoint(blp, MANAGE_APPT, errors=(404, 422), descriptions={404: "No such service"})
    @blp.arguments(RuleIn)
    @blp.response(200, RuleOut)
    def put(self, data, gs_service):
        """Make a service bookable at its office, or change its slots."""
        session = current_session()
        try:
            r = ap.set_rule(session, gov(), gs_service, **data)
        except ap.AppointmentError as exc:
            session.rollback()
            refuse(exc)
        session.commit()
        return _rule_out(r)
