"""Pages, mounted by core at ``/volunteers``. Thin: the rules are in ``services``; every
page action has its twin in ``api.py``."""

from __future__ import annotations

import io
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from core.toolkit import (
    Length,
    Row,
    bar_chart,
    csv_writer,
    current_kernel,
    current_session,
    has_permission,
    plugin_settings,
    registry_reader,
    request_facts,
    require,
    require_verified,
    scope_allows,
)
from plugins.volunteers import MANAGE, READ, SIGNUP, STATS, info
from plugins.volunteers import services as sv
from plugins.volunteers.models import Activity, Signup

bp = Blueprint("volunteers", __name__, template_folder="templates")

FORMAT = "%Y-%m-%dT%H:%M"


class ActivityForm(FlaskForm):
    community = SelectField(_l("Community"), validators=[DataRequired()])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("What volunteers will do"),
                                validators=[Optional(), Length(max=4000)])
    place = StringField(_l("Place"), validators=[DataRequired(), Length(max=200)])
    starts_at = DateTimeLocalField(_l("Starts"), format=FORMAT, validators=[InputRequired()])
    ends_at = DateTimeLocalField(_l("Ends"), format=FORMAT, validators=[InputRequired()])
    signup_deadline = DateTimeLocalField(_l("Sign-up closes"), format=FORMAT,
                                         validators=[InputRequired()])
    capacity = IntegerField(_l("Places"), validators=[InputRequired(), NumberRange(1, 10000)])
    hours = DecimalField(_l("Hours credited to each volunteer"), places=2,
                         validators=[InputRequired(), NumberRange(0, 24)])


class CancelForm(FlaskForm):
    reason = StringField(_l("Why is it cancelled?"), validators=[DataRequired(), Length(max=500)])


class CorrectForm(FlaskForm):
    hours = DecimalField(_l("Correct hours"), places=2,
                         validators=[InputRequired(), NumberRange(0, 24)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class ButtonForm(FlaskForm):
    """A form that is only a button (and its CSRF token)."""


def lang() -> str:
    return "zh" if str(get_locale() or "zh").startswith("zh") else "en"


def _activity(activity_id: int) -> Activity:
    activity = sv.get_activity(current_session(), activity_id)
    if activity is None:
        abort(404)
    return activity


def _managed(activity_id: int) -> Activity:
    activity = _activity(activity_id)
    if not sv.may_manage(current_user, activity.community, MANAGE):
        abort(404)
    return activity


def _community_names() -> dict[str, str]:
    reader = registry_reader(current_session(), info.id, actor=current_user.actor,
                             enforce_place=False, purpose="volunteer activities")
    return {c["code"]: c["name"] for c in reader.communities()}


def _my_communities(names: dict[str, str]) -> list[tuple[str, str]]:
    return [(code, name) for code, name in names.items() if scope_allows(current_user,
                                                                          community=code)]


def _form_errors(form: FlaskForm, exc: sv.VolunteerError) -> None:
    for name, texts in exc.field_texts().items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = list(field.errors) + texts
        else:
            form.form_errors.append(texts[0])


def _local_input(value: datetime | None) -> datetime | None:
    return sv.local(value).replace(tzinfo=None) if value else None


def _data_from(form: ActivityForm) -> sv.ActivityInput:
    try:
        times = {k: sv.from_local(getattr(form, k).data)
                 for k in ("starts_at", "ends_at", "signup_deadline")}
    except (OverflowError, ValueError):
        raise sv.VolunteerError("Enter a date between 2000 and 2100.", "starts_at") from None
    return sv.ActivityInput(title=form.title.data or "", place=form.place.data or "",
                            description=form.description.data or "",
                            capacity=form.capacity.data, hours=float(form.hours.data), **times)


# ----------------------------------------------------------------------------- everyone


@bp.route("/")
@require(READ)
def index():
    """Upcoming activities (or past ones), with each one's places left."""
    when = "past" if request.args.get("when") == "past" else "upcoming"
    session = current_session()
    query = sv.activities_query(upcoming=when == "upcoming")
    size = plugin_settings(info.id)["page_size"]
    activities = list(session.scalars(query.limit(size)))
    mine: dict[int, str] = {}
    if current_user.person_id and activities:
        mine = dict(session.execute(select(Signup.activity_id, Signup.status).where(
            Signup.person_id == current_user.person_id,
            Signup.activity_id.in_([a.id for a in activities]))).all())
    return render_template(
        "volunteers/index.html", activities=activities, when=when, mine=mine,
        names=_community_names(), may_manage=has_permission(current_user, MANAGE),
        may_stats=has_permission(current_user, STATS), lang=lang(), sv=sv)


@bp.route("/activities/<int:activity_id>")
@require(READ)
def activity(activity_id: int):
    """One activity: what, where, when, places left; the resident's sign-up and the
    staff's actions."""
    act = _activity(activity_id)
    return _render_activity(act)


def _render_activity(act: Activity, *, cancel_form: CancelForm | None = None, status: int = 200):
    session = current_session()
    mine = None
    if current_user.person_id:
        mine = sv.signup_of(session, act.id, current_user.person_id)
    manage = sv.may_manage(current_user, act.community, MANAGE)
    return render_template(
        "volunteers/activity.html", act=act, mine=mine, manage=manage,
        cancel_form=cancel_form or CancelForm(), button=ButtonForm(), sv=sv, lang=lang(),
        names=_community_names(),
        credited=manage and sv.has_credited(session, act.id),
        verified=bool(current_user.is_verified),
    ), status


@bp.route("/activities/<int:activity_id>/signup", methods=["POST"])
@require_verified(SIGNUP)
def signup(activity_id: int):
    act = _activity(activity_id)
    session = current_session()
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        row = sv.sign_up(session, act, person_id=current_user.person_id, user_id=current_user.id)
    except sv.VolunteerError as exc:
        flash(exc.text(), "error")
        return redirect(url_for("volunteers.activity", activity_id=act.id))
    session.commit()
    flash(_("You are signed up.") if row.status == "signed_up"
          else _("The activity is full: you are on the waiting list."), "success")
    return redirect(url_for("volunteers.activity", activity_id=act.id))


@bp.route("/activities/<int:activity_id>/withdraw", methods=["POST"])
@require_verified(SIGNUP)
def withdraw(activity_id: int):
    act = _activity(activity_id)
    session = current_session()
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        sv.withdraw(session, current_kernel().bus, act, person_id=current_user.person_id)
    except sv.VolunteerError as exc:
        flash(exc.text(), "error")
        return redirect(url_for("volunteers.activity", activity_id=act.id))
    session.commit()
    flash(_("Your sign-up is cancelled."), "success")
    return redirect(url_for("volunteers.activity", activity_id=act.id))


@bp.route("/mine")
@require_verified(SIGNUP)
def mine():
    """The resident's own record: activities joined, hours per year."""
    record = sv.person_record(current_session(), current_user.person_id)
    return render_template("volunteers/mine.html", record=record, sv=sv, lang=lang())


@bp.route("/mine/print")
@require_verified(SIGNUP)
def mine_print():
    """A printable summary of one year (or of every year) of the resident's hours."""
    record = sv.person_record(current_session(), current_user.person_id)
    year = request.args.get("year", type=int)
    entries = [(e, a) for e, a in record["entries"]
               if year is None or sv.local(e.served_at).year == year]
    total = sum(e.minutes for e, _a in entries)
    return render_template("volunteers/print.html", entries=entries, total=total, year=year,
                           sv=sv, today=sv.local(datetime.now().astimezone()).date())


# ----------------------------------------------------------------------------- staff


@bp.route("/activities/new", methods=["GET", "POST"])
@require(MANAGE)
def new():
    names = _community_names()
    form = ActivityForm()
    form.community.choices = _my_communities(names)
    if form.validate_on_submit():
        session = current_session()
        if not sv.may_manage(current_user, form.community.data, MANAGE):
            abort(403)
        try:
            act = sv.create_activity(session, community=form.community.data,
                                     data=_data_from(form), actor=current_user.actor)
        except sv.VolunteerError as exc:
            _form_errors(form, exc)
        else:
            session.commit()
            flash(_("Activity published."), "success")
            return redirect(url_for("volunteers.activity", activity_id=act.id))
    return render_template("volunteers/form.html", form=form, act=None,
                           no_place=not form.community.choices), 400 if form.errors else 200


@bp.route("/activities/<int:activity_id>/edit", methods=["GET", "POST"])
@require(MANAGE)
def edit(activity_id: int):
    act = _managed(activity_id)
    names = _community_names()
    form = ActivityForm(data=None if request.method == "POST" else {
        "community": act.community, "title": act.title, "description": act.description,
        "place": act.place, "starts_at": _local_input(act.starts_at),
        "ends_at": _local_input(act.ends_at),
        "signup_deadline": _local_input(act.signup_deadline), "capacity": act.capacity,
        "hours": act.credit_minutes / 60})
    form.community.choices = [(act.community, names.get(act.community, act.community))]
    if form.validate_on_submit():
        session = current_session()
        data = _data_from_safe(form)
        if data is not None:
            try:
                sv.update_activity(session, act, changes=data.__dict__, actor=current_user.actor)
            except sv.VolunteerError as exc:
                session.rollback()
                _form_errors(form, exc)
            else:
                session.commit()
                flash(_("Activity changed."), "success")
                return redirect(url_for("volunteers.activity", activity_id=act.id))
    return render_template("volunteers/form.html", form=form, act=act,
                           no_place=False), 400 if form.errors else 200


def _data_from_safe(form: ActivityForm) -> sv.ActivityInput | None:
    try:
        return _data_from(form)
    except sv.VolunteerError as exc:
        _form_errors(form, exc)
        return None


@bp.route("/activities/<int:activity_id>/cancel", methods=["POST"])
@require(MANAGE)
def cancel(activity_id: int):
    act = _managed(activity_id)
    form = CancelForm()
    if form.validate_on_submit():
        session = current_session()
        try:
            told = sv.cancel_activity(session, current_kernel().bus, act,
                                      reason=form.reason.data, actor=current_user.actor)
        except sv.VolunteerError as exc:
            _form_errors(form, exc)
        else:
            session.commit()
            flash(_("Activity cancelled; %(n)s volunteers were told.", n=told), "success")
            return redirect(url_for("volunteers.activity", activity_id=act.id))
    return _render_activity(act, cancel_form=form, status=400)


@bp.route("/activities/<int:activity_id>/roster")
@require(MANAGE)
def roster(activity_id: int):
    """The roster on the day: masked names (each display in the volunteer's access log),
    attended / absent buttons, and the ledger entry with its correction form."""
    act = _managed(activity_id)
    return _render_roster(act)


def _render_roster(act: Activity, *, correct_form: CorrectForm | None = None,
                   correct_id: int | None = None, status: int = 200):
    session = current_session()
    rows = sv.roster(session, act, actor=current_user.actor, lang=lang())
    fixes = sv.corrections_of(session, [r["hours_entry_id"] for r in rows if r["hours_entry_id"]])
    session.commit()  # the access-log entries of the names shown
    return render_template(
        "volunteers/roster.html", act=act, rows=rows, fixes=fixes, sv=sv, lang=lang(),
        button=ButtonForm(), open=sv.check_in_open(act), correct_form=correct_form,
        correct_id=correct_id,
    ), status


@bp.route("/activities/<int:activity_id>/roster/<int:signup_id>", methods=["POST"])
@require(MANAGE)
def check_in(activity_id: int, signup_id: int):
    act = _managed(activity_id)
    session = current_session()
    row = session.get(Signup, signup_id)
    if row is None or row.activity_id != act.id:
        abort(404)
    if not ButtonForm().validate_on_submit():
        abort(400)
    attended = request.form.get("attended") == "1"
    try:
        sv.check_in(session, current_kernel().bus, act, row, attended=attended,
                    actor=current_user.actor)
    except sv.VolunteerError as exc:
        flash(exc.text(), "error")
    else:
        session.commit()
        flash(_("Attendance recorded.") if attended else _("Marked absent."), "success")
    return redirect(url_for("volunteers.roster", activity_id=act.id) + f"#s{row.id}")


@bp.route("/hours/<int:entry_id>/correct", methods=["POST"])
@require(MANAGE)
def correct(entry_id: int):
    session = current_session()
    entry = sv.get_entry(session, entry_id)
    if entry is None or not sv.may_manage(current_user, entry.community, MANAGE):
        abort(404)
    act = session.get(Activity, entry.activity_id)
    form = CorrectForm()
    if form.validate_on_submit():
        try:
            sv.correct_entry(session, entry, hours=float(form.hours.data),
                             reason=form.reason.data, actor=current_user.actor)
        except sv.VolunteerError as exc:
            _form_errors(form, exc)
        else:
            session.commit()
            flash(_("Hours corrected."), "success")
            return redirect(url_for("volunteers.roster", activity_id=act.id))
    return _render_roster(act, correct_form=form, correct_id=entry.id, status=400)


def _summary_args(names: dict[str, str]) -> tuple[list[tuple[str, str]], str | None, int]:
    places = _my_communities(names)
    codes = [c for c, _n in places]
    community = request.args.get("community") or (codes[0] if codes else None)
    if community is not None and community not in codes:
        abort(404)
    year = request.args.get("year", type=int) or sv.local(datetime.now().astimezone()).year
    if not 2000 <= year <= 2100:
        abort(404)
    return places, community, year


@bp.route("/summary")
@require(STATS)
def summary():
    """A community's year at a glance: volunteers, activities, hours; hours per month as
    a server-drawn chart with its table."""
    names = _community_names()
    places, community, year = _summary_args(names)
    data = sv.year_summary(current_session(), community, year) if community else None
    chart, rows = None, []
    if data:
        zh = lang() == "zh"
        rows = [Row(str(i + 1), f"{i + 1}月" if zh else datetime(2000, i + 1, 1).strftime("%b"),
                    minutes) for i, minutes in enumerate(data["months"])]
        chart = bar_chart(rows, title=_("Volunteer hours per month, %(year)s", year=year),
                          chart_id="chart-hours", number=lambda m: sv.hours_text(m),
                          label_width=90)
    return render_template("volunteers/summary.html", data=data, chart=chart, rows=rows,
                           places=places, community=community, year=year, names=names, sv=sv)


@bp.route("/summary.csv")
@require(STATS)
def summary_csv():
    """The year's volunteers as CSV: masked names, activities, hours; formula-safe cells;
    each volunteer in their access log, the export in the audit log."""
    names = _community_names()
    _places, community, year = _summary_args(names)
    if community is None:
        abort(404)
    session = current_session()
    rows = sv.summary_rows(session, community, year, actor=current_user.actor,
                           purpose=f"volunteer summary {year}")
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(["person_id", "name", "activities", "hours"])
    for r in rows:
        writer.writerow([r["person_id"], r["name"], r["activities"], f"{r['hours']:g}"])
    sv.log_export(session, community, year, len(rows), actor=current_user.actor,
                  facts=request_facts())
    session.commit()
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=volunteers-{community}-{year}.csv"})

