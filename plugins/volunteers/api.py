"""The JSON API, mounted by core at ``/api/v1/volunteers``: every action of the pages,
with the same rules (the services) and the same checks. ``endpoint`` goes outermost, so
the permission is checked before the body is read; then the body's shape (422); then the
object (404: an activity outside the caller's places does not exist for its staff); a
schema-valid request the rules refuse is a 409 naming the field (docs/api.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from core.toolkit import (
    ApiBlueprint,
    current_kernel,
    current_session,
    endpoint,
    paginate,
    refuse,
    request_facts,
    require_verified,
)
from plugins.volunteers import MANAGE, READ, SIGNUP, STATS
from plugins.volunteers import schemas as s
from plugins.volunteers import services as sv
from plugins.volunteers.models import Activity, Signup

blp = ApiBlueprint("volunteers_api", __name__,
                   description="Volunteering: activities, sign-up, attendance, hours, summaries")

WORDS = {409: "Refused by a rule of the volunteers' service (see fields)",
         404: "No such activity, sign-up or entry for the caller"}


def _refuse(exc: sv.VolunteerError) -> NoReturn:
    refuse(exc, status=404 if exc.status == 404 else 409)


def _utc(value: datetime, field: str) -> datetime:
    try:
        return sv.from_local(value)
    except (OverflowError, ValueError):
        _refuse(sv.VolunteerError("Enter a date between 2000 and 2100.", field))


def _times(data: dict[str, Any]) -> dict[str, Any]:
    for key in ("starts_at", "ends_at", "signup_deadline"):
        if data.get(key) is not None:
            data[key] = _utc(data[key], key)
    return data


def _activity(activity_id: int) -> Activity:
    activity = sv.get_activity(current_session(), activity_id)
    if activity is None:
        abort(404, message="No such activity.")
    return activity


def _managed(activity_id: int) -> Activity:
    """An activity the caller runs: outside their places it does not exist for them."""
    activity = _activity(activity_id)
    if not sv.may_manage(current_user, activity.community, MANAGE):
        abort(404, message="No such activity.")
    return activity


def _out(activity: Activity, mine: Signup | None = None) -> dict[str, Any]:
    out = sv.activity_out(activity)
    out["my_signup"] = mine.status if mine is not None else None
    return out


def _person() -> int:
    return int(current_user.person_id)


@blp.route("/activities")
class Activities(MethodView):
    @endpoint(blp, READ, errors=(422,))
    @blp.arguments(s.VolunteersActivityArgs, location="query")
    @blp.response(200, s.VolunteersActivityPage)
    def get(self, args):
        """Activities: upcoming (the soonest first, cancelled left out), past, or all."""
        when = args.pop("when")
        query = sv.activities_query(community=args.pop("community", None),
                                    upcoming={"upcoming": True, "past": False}.get(when))
        page = paginate(current_session(), query, args)
        page["items"] = [_out(a) for a in page["items"]]
        return page

    @endpoint(blp, MANAGE, errors=(409, 422), descriptions=WORDS)
    @blp.arguments(s.VolunteersActivityIn)
    @blp.response(201, s.VolunteersActivity)
    def post(self, data):
        """Create an activity in a community the caller acts for (else 403). Times
        without an offset are in the configured time zone."""
        community = data.pop("community")
        if not sv.may_manage(current_user, community, MANAGE):
            abort(403, message="You do not act for this community.")
        session = current_session()
        try:
            activity = sv.create_activity(session, community=community,
                                          data=sv.ActivityInput(**_times(data)),
                                          actor=current_user.actor)
        except sv.VolunteerError as exc:
            _refuse(exc)
        session.commit()
        return _out(activity)


@blp.route("/activities/<int:activity_id>")
class ActivityItem(MethodView):
    @endpoint(blp, READ, errors=(404,), descriptions=WORDS)
    @blp.response(200, s.VolunteersActivity)
    def get(self, activity_id):
        """One activity, with the caller's own sign-up state."""
        activity = _activity(activity_id)
        mine = None
        if current_user.person_id:
            mine = sv.signup_of(current_session(), activity.id, current_user.person_id)
        return _out(activity, mine)

    @endpoint(blp, MANAGE, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.VolunteersActivityPatch)
    @blp.response(200, s.VolunteersActivity)
    def patch(self, data, activity_id):
        """Change an open activity (the capacity never below the places taken)."""
        activity = _managed(activity_id)
        session = current_session()
        try:
            sv.update_activity(session, activity, changes=_times(data), actor=current_user.actor)
        except sv.VolunteerError as exc:
            _refuse(exc)
        session.commit()
        return _out(activity)


@blp.route("/activities/<int:activity_id>/cancel")
class ActivityCancel(MethodView):
    @endpoint(blp, MANAGE, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.VolunteersCancelIn)
    @blp.response(200, s.VolunteersActivity)
    def post(self, data, activity_id):
        """Cancel an activity; everyone signed up or waiting is told, in their language."""
        activity = _managed(activity_id)
        session = current_session()
        try:
            sv.cancel_activity(session, current_kernel().bus, activity, reason=data["reason"],
                               actor=current_user.actor)
        except sv.VolunteerError as exc:
            _refuse(exc)
        session.commit()
        return _out(activity)


@blp.route("/activities/<int:activity_id>/signup")
class ActivitySignup(MethodView):
    @endpoint(blp, require_verified(SIGNUP), errors=(404, 409), descriptions=WORDS)
    @blp.response(201, s.VolunteersSignup)
    def post(self, activity_id):
        """Sign up (verified residents): a place, or the waiting list when it is full."""
        activity = _activity(activity_id)
        session = current_session()
        try:
            signup = sv.sign_up(session, activity, person_id=_person(), user_id=current_user.id)
        except sv.VolunteerError as exc:
            _refuse(exc)
        session.commit()
        return signup

    @endpoint(blp, require_verified(SIGNUP), errors=(404, 409), descriptions=WORDS)
    @blp.response(200, s.VolunteersSignup)
    def delete(self, activity_id):
        """Withdraw before the start; the place goes to the first on the waiting list."""
        activity = _activity(activity_id)
        session = current_session()
        try:
            signup = sv.withdraw(session, current_kernel().bus, activity, person_id=_person())
        except sv.VolunteerError as exc:
            _refuse(exc)
        session.commit()
        return signup


@blp.route("/activities/<int:activity_id>/roster")
class ActivityRoster(MethodView):
    @endpoint(blp, MANAGE, errors=(404,), descriptions=WORDS)
    @blp.response(200, s.VolunteersRoster)
    def get(self, activity_id):
        """Who signed up, names masked; each volunteer shown is in their access log."""
        activity = _managed(activity_id)
        session = current_session()
        items = sv.roster(session, activity, actor=current_user.actor)
        session.commit()  # the access-log entries
        return {"activity": _out(activity), "items": items,
                "check_in_open": sv.check_in_open(activity)}


@blp.route("/activities/<int:activity_id>/attendance")
class ActivityAttendance(MethodView):
    @endpoint(blp, MANAGE, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.VolunteersAttendanceIn)
    @blp.response(200, s.VolunteersSignup)
    def post(self, data, activity_id):
        """Check a volunteer in (attended: their hours are credited, once) or absent."""
        activity = _managed(activity_id)
        session = current_session()
        signup = session.get(Signup, data["signup_id"])
        if signup is None or signup.activity_id != activity.id:
            abort(404, message="No such sign-up.")
        try:
            sv.check_in(session, current_kernel().bus, activity, signup,
                        attended=data["attended"], actor=current_user.actor)
        except sv.VolunteerError as exc:
            _refuse(exc)
        session.commit()
        return signup


@blp.route("/hours/<int:entry_id>/corrections")
class HoursCorrections(MethodView):
    @endpoint(blp, MANAGE, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.VolunteersCorrectionIn)
    @blp.response(201, s.VolunteersCorrection)
    def post(self, data, entry_id):
        """Correct a ledger entry's hours, with the reason (kept as history)."""
        session = current_session()
        entry = sv.get_entry(session, entry_id)
        if entry is None or not sv.may_manage(current_user, entry.community, MANAGE):
            abort(404, message="No such entry.")
        try:
            c = sv.correct_entry(session, entry, hours=data["hours"], reason=data["reason"],
                                 actor=current_user.actor)
        except sv.VolunteerError as exc:
            _refuse(exc)
        session.commit()
        return {"old_hours": c.old_minutes / 60, "new_hours": c.new_minutes / 60,
                "reason": c.reason, "at": c.at}


@blp.route("/mine")
class Mine(MethodView):
    @endpoint(blp, require_verified(SIGNUP))
    @blp.response(200, s.VolunteersRecord)
    def get(self):
        """The caller's own record: sign-ups, ledger entries, hours per year."""
        session = current_session()
        record = sv.person_record(session, _person())
        fixes = sv.corrections_of(session, [e.id for e, _a in record["entries"]])
        return {
            "total_hours": record["total_minutes"] / 60,
            "per_year": [{"year": y, "hours": m / 60} for y, m in record["per_year"]],
            "signups": [{"activity": _out(a, su), "status": su.status}
                        for su, a in record["signups"]],
            "entries": [{"id": e.id, "activity_id": a.id, "activity_title": a.title,
                         "person_id": e.person_id, "hours": e.minutes / 60,
                         "served_at": e.served_at,
                         "corrections": [{"old_hours": c.old_minutes / 60,
                                          "new_hours": c.new_minutes / 60,
                                          "reason": c.reason, "at": c.at}
                                         for c in fixes.get(e.id, [])]}
                        for e, a in record["entries"]],
        }


def _summary_community(args: dict[str, Any]) -> str:
    if not sv.may_manage(current_user, args["community"], STATS):
        abort(404, message="No such community for the caller.")
    return args["community"]


@blp.route("/summary")
class Summary(MethodView):
    @endpoint(blp, STATS, errors=(404, 422), descriptions=WORDS)
    @blp.arguments(s.VolunteersSummaryArgs, location="query")
    @blp.response(200, s.VolunteersSummary)
    def get(self, args):
        """A community's year: volunteers, activities, total hours, hours per month."""
        community = _summary_community(args)
        data = sv.year_summary(current_session(), community, args["year"])
        return {**data, "total_hours": data["total_minutes"] / 60,
                "months": [{"month": i + 1, "hours": m / 60}
                           for i, m in enumerate(data["months"])]}


@blp.route("/summary/volunteers")
class SummaryVolunteers(MethodView):
    @endpoint(blp, STATS, errors=(404, 422), descriptions=WORDS)
    @blp.arguments(s.VolunteersSummaryArgs, location="query")
    @blp.response(200, s.VolunteersSummaryVolunteers)
    def get(self, args):
        """The volunteers of a community's year, names masked (the CSV export's rows):
        each one shown is in their access log, the export in the audit log."""
        community = _summary_community(args)
        session = current_session()
        rows = sv.summary_rows(session, community, args["year"], actor=current_user.actor,
                               purpose=f"volunteer summary {args['year']}")
        sv.log_export(session, community, args["year"], len(rows), actor=current_user.actor,
                      facts=request_facts())
        session.commit()
        return {"community": community, "year": args["year"], "items": rows}

