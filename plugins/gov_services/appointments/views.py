"""Appointment pages, under ``/gov-services/appointments``. Thin: the rules are in
``appointments.services``. Residents: book (day, then a time), mine, change, cancel.
Staff: the desk (the office's day list: check in, call next, served, missed) and the
manage page (counters, hours, bookable services)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from core.toolkit import (
    MAX_ID,
    N_,
    current_session,
    local_today,
    local_zone,
    mask_name,
    require,
)
from plugins.gov_services.appointments import BOOK, HANDLE_APPT, MANAGE_APPT
from plugins.gov_services.appointments import services as ap
from plugins.gov_services.appointments.catalogue import office_name, offices
from plugins.gov_services.appointments.models import Booking, Counter
from plugins.gov_services.services import gov, lang, reader_for

bp = Blueprint("gov_services_appt", __name__)  # templates: the plugin's own folder


class CsrfForm(FlaskForm):
    """Only the CSRF token: the fields are read and checked by the services."""


@bp.app_template_global("appt_state")
def appt_state(state: str) -> str:
    return _(ap.STATE_LABELS.get(state, state))


@bp.app_template_global("appt_time")
def appt_time(at: Any) -> str:
    return ap.local(at, local_zone()).strftime("%Y-%m-%d %H:%M") if at else ""


@bp.app_template_global("appt_queue")
def appt_queue(n: int | None) -> str:
    return ap.queue_label(n)


@bp.app_template_global("appt_bookable")
def appt_bookable(service_code: str) -> bool:
    """Whether a service's page offers "book an appointment" (service.html)."""
    return ap.rule_for(current_session(), service_code) is not None


def _day(raw: str | None, default: date | None = None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip()[:10])
    except ValueError:
        return default


def _own(booking_id: int) -> Booking:
    b = current_session().get(Booking, booking_id) if 0 < booking_id <= MAX_ID else None
    if b is None or b.person_id != getattr(current_user, "person_id", None):
        abort(404)
    return b


def _staff_booking(booking_id: int) -> Booking:
    b = current_session().get(Booking, booking_id) if 0 < booking_id <= MAX_ID else None
    if b is None or not ap.may_handle(current_user, b):
        abort(404)
    return b


def _open_days(session: Any, g: Any, rule: Any, count: int = 7) -> list[date]:
    """The next open days of the service's office (day buttons: no typing on a phone)."""
    out, day = [], local_today(ap.now_utc())
    for _i in range(rule.days_ahead + 1):
        if ap.periods(session, g.calendar, rule.office, day):
            out.append(day)
            if len(out) >= count:
                break
        day += timedelta(days=1)
    return out


# ------------------------------------------------------------------------------ resident


@bp.route("/appointments/book/<gs_service>", methods=["GET", "POST"])
@require(BOOK)
def book(gs_service: str):
    """Book a time for a counter service: the day first (buttons for the next open days,
    or any date), then the free times of that day; errors beside the field."""
    g = gov()
    session = current_session()
    svc = g.catalogue.get(gs_service)
    rule = ap.rule_for(session, gs_service) if svc else None
    if svc is None or rule is None:
        abort(404)
    if not current_user.is_verified:
        return render_template("gov_services/not_verified.html", s=svc, lang=lang()), 403
    form = CsrfForm()
    errors: dict[str, str] = {}
    day = _day(request.values.get("day"), None)
    chosen = request.form.get("time", "")
    if request.method == "POST" and form.validate_on_submit():
        if day is None:
            errors["day"] = _("Choose a day.")
        elif not chosen:
            errors["time"] = _("Choose a time.")
        else:
            person = reader_for(session, g, current_user, "appointment booking").person(
                current_user.person_id)
            try:
                booking = ap.book(session, g, service_code=svc.code,
                                  person_id=current_user.person_id, user_id=current_user.id,
                                  community=person.get("community"), day=day, at=chosen,
                                  channel=ap.channel_of(current_user))
            except ap.AppointmentError as exc:
                session.rollback()
                errors[exc.field or "time"] = exc.text()
            else:
                session.commit()
                flash(_("Your appointment is booked."), "success")
                return redirect(url_for("gov_services_appt.mine", booked=booking.id))
    elif request.method == "POST":
        errors["day"] = _("The form has expired. Please try again.")
    if day is not None and "day" not in errors:
        try:
            ap.check_day(session, g.calendar, rule, day, ap.now_utc(), local_zone())
        except ap.AppointmentError as exc:
            errors["day"] = exc.text()
    slots = ap.slots(session, g.calendar, rule, day) if day and "day" not in errors else []
    return render_template(
        "gov_services/appointments/book.html", s=svc, rule=rule, form=form, day=day,
        days=_open_days(session, g, rule), slots=slots, chosen=chosen, errors=errors,
        office=office_name(g, rule.office, lang()), lang=lang(), action="book",
    ), (422 if errors and request.method == "POST" else 200)


@bp.route("/appointments/mine")
@require(BOOK)
def mine():
    """My appointments, newest first, with the queue number once checked in."""
    g = gov()
    session = current_session()
    rows = ap.my_bookings(session, current_user.person_id) if current_user.person_id else []
    return render_template("gov_services/appointments/mine.html", rows=rows, g=g, lang=lang(),
                           form=CsrfForm(), office_name=office_name,
                           booked=request.args.get("booked", type=int))


@bp.route("/appointments/<int:gs_booking_id>/change", methods=["GET", "POST"])
@require(BOOK)
def change(gs_booking_id: int):
    g = gov()
    session = current_session()
    b = _own(gs_booking_id)
    rule = ap.rule_for(session, b.service_code)
    svc = g.catalogue.get(b.service_code)
    if rule is None or svc is None:
        abort(404)
    form = CsrfForm()
    errors: dict[str, str] = {}
    day = _day(request.values.get("day"), None)
    chosen = request.form.get("time", "")
    if request.method == "POST" and form.validate_on_submit():
        if day is None:
            errors["day"] = _("Choose a day.")
        elif not chosen:
            errors["time"] = _("Choose a time.")
        else:
            try:
                ap.change(session, g, b, day=day, at=chosen,
                          channel=ap.channel_of(current_user))
            except ap.AppointmentError as exc:
                session.rollback()
                errors[exc.field if exc.field in ("day", "time") else "day"] = exc.text()
            else:
                session.commit()
                flash(_("Your appointment is changed."), "success")
                return redirect(url_for("gov_services_appt.mine"))
    elif request.method == "POST":
        errors["day"] = _("The form has expired. Please try again.")
    if day is not None and "day" not in errors:
        try:
            ap.check_day(session, g.calendar, rule, day, ap.now_utc(), local_zone())
        except ap.AppointmentError as exc:
            errors["day"] = exc.text()
    slots = ap.slots(session, g.calendar, rule, day) if day and "day" not in errors else []
    return render_template(
        "gov_services/appointments/book.html", s=svc, rule=rule, form=form, day=day,
        days=_open_days(session, g, rule), slots=slots, chosen=chosen, errors=errors,
        office=office_name(g, rule.office, lang()), lang=lang(), action="change", booking=b,
    ), (422 if errors and request.method == "POST" else 200)


@bp.route("/appointments/<int:gs_booking_id>/cancel", methods=["POST"])
@require(BOOK)
def cancel(gs_booking_id: int):
    g = gov()
    session = current_session()
    b = _own(gs_booking_id)
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        ap.cancel(session, g, b, channel=ap.channel_of(current_user))
    except ap.AppointmentError as exc:
        session.rollback()
        flash(exc.text(), "error")
    else:
        session.commit()
        flash(_("Your appointment is cancelled."), "success")
    return redirect(url_for("gov_services_appt.mine"))


# ------------------------------------------------------------------------------ staff


def _office_arg(g: Any) -> str:
    office = request.values.get("office") or next(iter(g.catalogue.offices), "")
    if office not in g.catalogue.offices:
        abort(404)
    return office


@bp.route("/appointments/desk")
@require(HANDLE_APPT)
def desk():
    """The office's day list for staff, within their places: who is booked when, check
    in (a queue number), call the next number, served, missed; repeated no-shows noted.
    Names are masked, and each display is in the person's access log (the reader)."""
    g = gov()
    session = current_session()
    office = _office_arg(g)
    today = local_today(ap.now_utc())  # the office's day on the appointments' clock
    day = _day(request.args.get("day"), today) or today
    rows = ap.day_list(session, current_user, office, day)
    ids = sorted({b.person_id for b in rows})
    people = {}
    if ids:
        reader = reader_for(session, g, current_user, f"appointments day list {day.isoformat()}")
        people = {p["id"]: mask_name(p.get("name") or "") for p in reader.persons(ids)}
        session.commit()  # a GET page: the access-log entries must outlive the request
    missed = ap.no_show_counts(session, ids, ap.now_utc())
    return render_template(
        "gov_services/appointments/desk.html", rows=rows, people=people, missed=missed,
        office=office, offices=offices(g, lang()), day=day, today=today, g=g, lang=lang(),
        form=CsrfForm(), counters=ap.counters(session, office),
        repeated=ap.REPEATED_NO_SHOWS, now=ap.now_utc(),
    )


def _back(b: Booking | None = None, office: str | None = None):
    office = office or (b.office if b else "")
    day = b.day.isoformat() if b else request.form.get("day", "")
    return redirect(url_for("gov_services_appt.desk", office=office, day=day))


def _staff_step(gs_booking_id: int, step: str):
    g = gov()
    session = current_session()
    b = _staff_booking(gs_booking_id)
    if not CsrfForm().validate_on_submit():
        abort(400)
    try:
        if step == "check_in":
            n = ap.check_in(session, g, b)
            msg = _("Checked in: queue number %(n)s.", n=ap.queue_label(n))
        elif step == "served":
            ap.serve(session, b)
            msg = _("Marked served.")
        else:
            ap.mark_no_show(session, g, b)
            msg = _("Marked missed; the resident is told.")
    except ap.AppointmentError as exc:
        session.rollback()
        flash(exc.text(), "error")
    else:
        session.commit()
        flash(msg, "success")
    return _back(b)


@bp.route("/appointments/<int:gs_booking_id>/check-in", methods=["POST"])
@require(HANDLE_APPT)
def check_in(gs_booking_id: int):
    return _staff_step(gs_booking_id, "check_in")


@bp.route("/appointments/<int:gs_booking_id>/served", methods=["POST"])
@require(HANDLE_APPT)
def served(gs_booking_id: int):
    return _staff_step(gs_booking_id, "served")


@bp.route("/appointments/<int:gs_booking_id>/no-show", methods=["POST"])
@require(HANDLE_APPT)
def no_show(gs_booking_id: int):
    return _staff_step(gs_booking_id, "no_show")


@bp.route("/appointments/desk/call-next", methods=["POST"])
@require(HANDLE_APPT)
def call_next():
    g = gov()
    session = current_session()
    office = _office_arg(g)
    if not CsrfForm().validate_on_submit():
        abort(400)
    counter = request.form.get("counter", type=int) or 1
    b = ap.call_next(session, g, current_user, office, counter)
    session.commit()
    if b is None:
        flash(_("Nobody is waiting."), "info")
    else:
        flash(_("Called %(n)s to counter %(c)s.", n=ap.queue_label(b.queue_no), c=counter),
              "success")
    return redirect(url_for("gov_services_appt.desk", office=office))


# ------------------------------------------------------------------------------ manage


@bp.route("/appointments/manage", methods=["GET", "POST"])
@require(MANAGE_APPT)
def manage():
    """Counters, opening hours and the bookable services of an office, one small form
    each (each POST says which with ``what``); errors beside the field."""
    g = gov()
    session = current_session()
    office = _office_arg(g)
    form = CsrfForm()
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        what = request.form.get("what")
        try:
            if what == "counter":
                ap.set_counter(session, office, request.form.get("number", type=int) or 0,
                               label_zh=request.form.get("label_zh", "")[:100],
                               label_en=request.form.get("label_en", "")[:100],
                               active=request.form.get("active") == "1")
            elif what == "hours":
                weekday = request.form.get("weekday", type=int)
                if weekday is None or not 0 <= weekday <= 6:
                    raise ap.AppointmentError(N_("Choose a weekday."), "weekday")
                ap.set_hours(session, office, weekday,
                             ap.parse_spans(request.form.get("hours", "")))
            elif what == "rule":
                code = request.form.get("service_code", "")
                svc = g.catalogue.get(code)
                if svc is None:
                    raise ap.AppointmentError(N_("There is no such service."), "service_code")
                ap.set_rule(session, g, code,
                            minutes=request.form.get("minutes", type=int) or 0,
                            capacity=max(1, min(request.form.get("capacity", type=int) or 1, 50)),
                            days_ahead=max(1, min(request.form.get("days_ahead", type=int) or 14,
                                                  60)),
                            cutoff_hours=max(0, min(request.form.get("cutoff_hours", type=int)
                                                    or 0, 72)),
                            active=request.form.get("active") == "1")
            else:
                abort(400)
        except ap.AppointmentError as exc:
            session.rollback()
            errors[f"{what}.{exc.field}"] = exc.text()
            status = 422
        else:
            session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("gov_services_appt.manage", office=office))
    from sqlalchemy import select

    from plugins.gov_services.appointments.catalogue import office_code
    from plugins.gov_services.appointments.models import SlotRule

    rules = {r.service_code: r for r in session.scalars(
        select(SlotRule).where(SlotRule.office == office))}
    here = [s for s in g.catalogue.services.values() if office_code(g, s) == office]
    return render_template(
        "gov_services/appointments/manage.html", office=office, offices=offices(g, lang()),
        counters=ap.counters(session, office, active_only=False), hours=ap.hours(session, office),
        rules=rules, services=here, form=form, errors=errors, lang=lang(),
        weekdays=[_(d) for d in ap.WEEKDAYS], Counter=Counter,
    ), status
