"""Pages, mounted by core at ``/grid``. Thin: the rules are in ``services``; what is shown
of persons goes through ``presenters`` (masked, logged)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Optional

from core.toolkit import (
    N_,
    Length,
    Row,
    account_views,
    bar_chart,
    current_kernel,
    current_session,
    local_zone,
    mask_name,
    registry_reader,
    require,
    scope_allows,
)
from plugins.grid import SUPERVISE, WORK
from plugins.grid import services as svc
from plugins.grid.presenters import RECORD_PURPOSE, log_visits, task_rows
from plugins.grid.services.common import local
from plugins.grid.services.corrections import (
    PATROL_FIELDS,
    VISIT_FIELDS,
    correct_patrol,
    correct_visit,
    correction_state,
    corrections_of,
)
from plugins.grid.services.households import (
    create_household_visit,
    due_members,
    group_by_household,
    household_met,
    household_of,
    visit_persons,
)

bp = Blueprint("grid", __name__, template_folder="templates")

MET_LABELS = {"person": _l("The person themselves"), "family": _l("A family member"),
              "neighbour": _l("A neighbour"), "nobody": _l("Nobody was at home")}
KIND_LABELS = {"": _l("Do not refer"), "matter": _l("A government matter"),
               "incident": _l("A safety incident"), "offer": _l("A service offer")}
CATEGORY_LABELS = {"living": _l("Daily living"), "health": _l("Health"),
                   "housing": _l("Housing"), "safety": _l("Safety hazard"),
                   "environment": _l("Environment and sanitation"),
                   "dispute": _l("Neighbour dispute"), "other": _l("Other")}
STATE_LABELS = {"": _l("Referred"), "filed": _l("Filed as a matter"),
                "answered": _l("Answered"), "closed": _l("Closed")}
STATUS_LABELS = {"overdue": _l("Overdue"), "due": _l("Due"), "ok": _l("On time")}
NONE_MET_LABELS = {"neighbour": _l("A neighbour"), "nobody": _l("Nobody was at home")}
FIELD_LABELS = {"visited_on": _l("Date of the visit"), "findings": _l("What you found"),
                "needs": _l("What they need"), "follow_up": _l("Follow-up"),
                "follow_up_on": _l("Follow up by"), "area": _l("Route or area"),
                "started_at": _l("Started at"), "ended_at": _l("Ended at"),
                "found": _l("What you found")}


class ReferFields:
    refer_kind = SelectField(_l("Refer the finding onward"), default="",
                             choices=list(KIND_LABELS.items()), validators=[Optional()])
    category = SelectField(_l("Category"), default="",
                           choices=[("", _l("Choose a category")), *CATEGORY_LABELS.items()],
                           validators=[Optional()])
    service_code = StringField(_l("Service code (for a service offer)"),
                               validators=[Optional(), Length(max=60)])


class VisitForm(ReferFields, FlaskForm):
    visited_on = DateField(_l("Date of the visit"), validators=[DataRequired(
        message=_l("Enter the date of the visit."))])
    met = RadioField(_l("Whom did you meet?"), choices=list(MET_LABELS.items()),
                     validators=[DataRequired(message=_l("Choose whom you met."))])
    findings = TextAreaField(_l("What you found"), validators=[Length(max=2000)])
    needs = TextAreaField(_l("What they need"), validators=[Length(max=2000)])
    follow_up = TextAreaField(_l("Follow-up"), validators=[Length(max=2000)])
    follow_up_on = DateField(_l("Follow up by"), validators=[Optional()])


class HouseholdVisitForm(VisitForm):
    """A visit to a household: who was met is ticked from its members; a neighbour or
    nobody at home only when none of them was met."""

    met_ids = SelectMultipleField(_l("Who was met"), coerce=int, validators=[Optional()])
    met = RadioField(_l("If you met none of them"), choices=list(NONE_MET_LABELS.items()),
                     validators=[Optional()])


class CorrectionFields:
    reason = TextAreaField(_l("Why you correct the record"), validators=[
        DataRequired(message=_l("Say why you correct the record.")), Length(max=500)])


class VisitCorrectionForm(CorrectionFields, FlaskForm):
    visited_on = DateField(_l("Date of the visit"), validators=[DataRequired(
        message=_l("Enter the date of the visit."))])
    findings = TextAreaField(_l("What you found"), validators=[Length(max=2000)])
    needs = TextAreaField(_l("What they need"), validators=[Length(max=2000)])
    follow_up = TextAreaField(_l("Follow-up"), validators=[Length(max=2000)])
    follow_up_on = DateField(_l("Follow up by"), validators=[Optional()])


class PatrolCorrectionForm(CorrectionFields, FlaskForm):
    area = StringField(_l("Route or area"), validators=[
        DataRequired(message=_l("Say where you patrolled.")), Length(max=200)])
    started_at = DateTimeLocalField(_l("Started at"), format="%Y-%m-%dT%H:%M",
                                    validators=[DataRequired(
                                        message=_l("Enter when you started."))])
    ended_at = DateTimeLocalField(_l("Ended at"), format="%Y-%m-%dT%H:%M",
                                  validators=[Optional()])
    found = TextAreaField(_l("What you found"), validators=[Length(max=2000)])


class ReferForm(ReferFields, FlaskForm):
    summary = TextAreaField(_l("The finding, in a few words"), validators=[Length(max=500)])


class PatrolForm(ReferFields, FlaskForm):
    grid = SelectField(_l("Grid"), validators=[DataRequired(message=_l("Choose a grid."))])
    area = StringField(_l("Route or area"), validators=[
        DataRequired(message=_l("Say where you patrolled.")), Length(max=200)])
    started_at = DateTimeLocalField(_l("Started at"), format="%Y-%m-%dT%H:%M",
                                    validators=[DataRequired(
                                        message=_l("Enter when you started."))])
    ended_at = DateTimeLocalField(_l("Ended at"), format="%Y-%m-%dT%H:%M",
                                  validators=[Optional()])
    found = TextAreaField(_l("What you found"), validators=[Length(max=2000)])


def _errors(form: FlaskForm) -> list[tuple[str, str]]:
    return [(f.id, str(e)) for f in form for e in f.errors]


def _rule_error(form: FlaskForm, exc: svc.GridError, rename: dict[str, str] | None = None) -> None:
    for name, messages in exc.field_texts().items():
        target = getattr(form, (rename or {}).get(name, name), None)
        if target is None:  # a rule about the whole record: beside the last field
            target = getattr(form, "refer_kind", None) or getattr(form, "reason", None)
        if target is not None:
            target.errors = [*list(target.errors), *messages]


def _refer_from(form: Any, summary: str, **source: Any) -> svc.GridError | None:
    """The one-step referral of a form's finding; None when not asked for."""
    kind = form.refer_kind.data or ""
    if not kind:
        return None
    svc.refer_finding(current_session(), current_kernel().bus, current_user, kind=kind,
                      category=form.category.data or "", summary=summary[:500],
                      service_code=form.service_code.data, **source)
    return None


def _local(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=local_zone()) if value is not None else None


@bp.route("/")
@require(WORK)
def index():
    """The worker's task list by household: each household due a visit (address masked
    to the building), its members due and why, the most overdue first."""
    session = current_session()
    settings = current_kernel().plugins.settings("grid")
    tasks = svc.due_tasks(session, current_user, lookahead=settings["lookahead_days"])
    rows = task_rows(session, current_user, tasks[: settings["page_size"]])
    session.commit()
    return render_template("grid/index.html", groups=group_by_household(rows),
                           total=len(tasks), shown=len(rows), rules=svc.rule_map(),
                           status_labels=STATUS_LABELS, today=svc.today())


@bp.route("/persons/<int:person_id>", methods=["GET", "POST"])
@require(WORK)
def person(person_id: int):
    """Record a visit: to the person's household when the registry has one (one record
    covering its members due, who was met ticked from its members), else to the person
    alone; with its referral in the same step. Earlier visits below."""
    session = current_session()
    try:
        view = svc.visible_person(session, current_user, person_id, RECORD_PURPOSE)
        household = household_of(session, current_user, person_id, RECORD_PURPOSE)
    except svc.GridError:
        abort(404)
    members = household["members"] if household else []
    due = due_members(session, [m["id"] for m in members]) | {person_id}
    form: VisitForm = HouseholdVisitForm() if household else VisitForm()
    if isinstance(form, HouseholdVisitForm):
        form.met_ids.choices = [(m["id"], _member_label(m, m["id"] in due)) for m in members]
    if not form.is_submitted():
        form.visited_on.data = svc.today()
    if form.validate_on_submit():
        try:
            visit = _record_visit(session, form, person_id)
        except svc.GridError as exc:
            session.rollback()
            _rule_error(form, exc, {"summary": "findings", "kind": "refer_kind",
                                    "met_person_ids": "met_ids"})
        else:
            session.commit()
            flash(_("Visit recorded.") + (" " + _("The finding was referred.")
                                          if form.refer_kind.data else ""), "success")
            return redirect(url_for("grid.visit", visit_id=visit.id))
    visits = list(session.scalars(svc.visits_query(current_user, person_id=person_id).limit(20)))
    log_visits(session, visits)
    session.commit()
    return render_template("grid/person.html", person=view, name=mask_name(view.get("name") or ""),
                           form=form, errors=_errors(form), visits=visits,
                           household=household, due=due,
                           met_labels=MET_LABELS, rules=svc.rule_map()), \
        400 if form.errors else 200


def _member_label(member: dict[str, Any], due: bool) -> str:
    """A household member as a tick box reads: masked name, age band (two 陈** apart),
    and whether a rule makes them due."""
    parts = [mask_name(member.get("name") or "")]
    if member.get("age_band"):
        parts.append(_("aged %(band)s", band=member["age_band"]))
    if due:
        parts.append(_("due a visit"))
    return " · ".join(parts)


def _record_visit(session: Any, form: VisitForm, person_id: int) -> Any:
    """The form's visit (a household's when the form is one) and its referral."""
    findings, needs = form.findings.data or "", form.needs.data or ""
    follow_up = form.follow_up.data or ""
    if isinstance(form, HouseholdVisitForm):
        met_ids = form.met_ids.data or []
        visit = create_household_visit(
            session, current_user, person_id=person_id, met_person_ids=met_ids,
            purpose=RECORD_PURPOSE, visited_on=form.visited_on.data,
            met=household_met(person_id, met_ids, form.met.data or ""), findings=findings,
            needs=needs, follow_up=follow_up, follow_up_on=form.follow_up_on.data)
    else:
        visit = svc.create_visit(session, current_user, person_id=person_id,
                                 visited_on=form.visited_on.data, met=form.met.data,
                                 findings=findings, needs=needs, follow_up=follow_up,
                                 follow_up_on=form.follow_up_on.data)
    if form.refer_kind.data and not findings.strip():
        raise svc.GridError(N_("Say what you found to refer it."), "findings")
    _refer_from(form, findings, visit=visit)
    return visit


@bp.route("/visits/<int:visit_id>", methods=["GET", "POST"])
@require(WORK)
def visit(visit_id: int):
    """A visit record, its referred findings with their onward status, and the form to
    refer a finding afterwards."""
    session = current_session()
    try:
        found = svc.get_visit(session, current_user, visit_id)
    except svc.GridError:
        abort(404)
    form = ReferForm()
    if not form.is_submitted():
        form.summary.data = (found.findings or "")[:500]
    if form.validate_on_submit():
        try:
            if not form.refer_kind.data:
                raise svc.GridError(N_("Choose where the finding goes."), "kind")
            _refer_from(form, form.summary.data or "", visit=found)
        except svc.GridError as exc:
            session.rollback()
            _rule_error(form, exc, {"kind": "refer_kind"})
        else:
            session.commit()
            flash(_("The finding was referred."), "success")
            return redirect(url_for("grid.visit", visit_id=found.id))
    persons = visit_persons(session, [found.id])[found.id]
    shown = {v["id"]: mask_name(v.get("name") or "") for v in registry_reader(
        session, "grid", actor=current_user, purpose=RECORD_PURPOSE).persons(
        sorted({found.person_id, *persons["covered"], *persons["met"]}))}
    log_visits(session, [found])
    corrections = corrections_of(session, visit_id=found.id)
    state = correction_state(session, current_user, found, days=_correction_days())
    session.commit()
    return render_template("grid/visit.html", v=found, name=shown.get(found.person_id, ""),
                           met_names=[shown[p] for p in persons["met"] if p in shown],
                           covered_names=[shown[p] for p in persons["covered"] if p in shown],
                           form=form, errors=_errors(form),
                           findings=svc.findings_of(session, visit_id=found.id),
                           corrections=_correction_rows(session, corrections),
                           can_correct=state in ("supervisor", "recorder"),
                           correction_days=_correction_days(),
                           labels=_labels()), 400 if form.errors else 200


def _correction_days() -> int:
    return int(current_kernel().plugins.settings("grid")["correction_days"])


def _shown_value(name: str, value: Any) -> str:
    """A kept value as the page shows it: dates and times in the reader's locale and the
    office's time zone, empty as a dash."""
    if value in (None, ""):
        return "—"
    if name in ("visited_on", "follow_up_on"):
        return format_date(date.fromisoformat(value), "medium")
    if name in ("started_at", "ended_at"):
        return format_datetime(local(datetime.fromisoformat(value)), "short")
    return str(value)


def _correction_rows(session: Any, corrections: list[Any]) -> list[dict[str, Any]]:
    """Each correction with who made it (an account: staff, not a resident's data), its
    reason and, per changed field, the value before and after."""
    who = account_views(session, [c.corrected_by_id for c in corrections])
    return [{"id": c.id, "at": c.corrected_at, "reason": c.reason,
             "by": who[c.corrected_by_id].name if c.corrected_by_id in who else "",
             "changes": [(FIELD_LABELS.get(k, k), _shown_value(k, c.before.get(k)),
                          _shown_value(k, c.after.get(k))) for k in c.after]}
            for c in corrections]


def _correct(found: Any, form: Any, *, fill: Any, correct: Any, changes: Any,
             done: str, done_url: str) -> tuple[Any, str, int]:
    """The correction step both record kinds share: the form filled from the record, the
    service's rule (who may, within which window) and its refusal at the field; the
    redirect once corrected, else ``(None, state, days)`` for the page."""
    session = current_session()
    days = _correction_days()
    state = correction_state(session, current_user, found, days=days)
    if not form.is_submitted():
        fill(form)
    if state in ("supervisor", "recorder") and form.validate_on_submit():
        try:
            correct(session, current_user, found, reason=form.reason.data or "",
                    changes=changes(form), days=days)
        except svc.GridError as exc:
            session.rollback()
            _rule_error(form, exc)
        else:
            session.commit()
            flash(done, "success")
            return redirect(done_url), state, days
    return None, state, days


@bp.route("/visits/<int:visit_id>/correct", methods=["GET", "POST"])
@require(WORK)
def correct_visit_page(visit_id: int):
    """Correct a visit record with a reason: the worker who recorded it within the
    window, a supervisor at any time; the earlier version stays on the record."""
    session = current_session()
    try:
        found = svc.get_visit(session, current_user, visit_id)
    except svc.GridError:
        abort(404)
    form = VisitCorrectionForm()

    def fill(f: Any) -> None:
        for name in VISIT_FIELDS:
            getattr(f, name).data = getattr(found, name)

    done, state, days = _correct(
        found, form, fill=fill, correct=correct_visit,
        changes=lambda f: {n: getattr(f, n).data if n.endswith("_on")
                           else getattr(f, n).data or "" for n in VISIT_FIELDS},
        done=_("The visit record was corrected; the earlier version is kept."),
        done_url=url_for("grid.visit", visit_id=found.id))
    if done is not None:
        return done
    shown = registry_reader(session, "grid", actor=current_user,
                            purpose=RECORD_PURPOSE).persons([found.person_id])
    log_visits(session, [found])
    session.commit()
    return render_template("grid/correct.html", form=form, errors=_errors(form),
                           state=state, days=days, kind="visit",
                           title=_("Correct the visit to %(name)s",
                                   name=mask_name(shown[0]["name"]) if shown else ""),
                           back=url_for("grid.visit", visit_id=found.id),
                           fields=VISIT_FIELDS), 400 if form.errors else 200


@bp.route("/patrols/<int:patrol_id>/correct", methods=["GET", "POST"])
@require(WORK)
def correct_patrol_page(patrol_id: int):
    """Correct a patrol record with a reason (same rules as a visit's)."""
    session = current_session()
    try:
        found = svc.get_patrol(session, current_user, patrol_id)
    except svc.GridError:
        abort(404)
    form = PatrolCorrectionForm()

    def fill(f: Any) -> None:
        f.area.data, f.found.data = found.area, found.found
        f.started_at.data, f.ended_at.data = _naive(found.started_at), _naive(found.ended_at)

    done, state, days = _correct(
        found, form, fill=fill, correct=correct_patrol,
        changes=lambda f: {"area": f.area.data or "", "found": f.found.data or "",
                           "started_at": _local(f.started_at.data),
                           "ended_at": _local(f.ended_at.data)},
        done=_("The patrol record was corrected; the earlier version is kept."),
        done_url=url_for("grid.patrols") + f"#patrol-{found.id}")
    if done is not None:
        return done
    return render_template("grid/correct.html", form=form, errors=_errors(form),
                           state=state, days=days, kind="patrol",
                           title=_("Correct the patrol: %(area)s", area=found.area),
                           back=url_for("grid.patrols"),
                           fields=PATROL_FIELDS), 400 if form.errors else 200


def _naive(value: datetime | None) -> datetime | None:
    """A stored time as the office's wall clock, for a datetime-local input."""
    shown = local(value)
    return shown.replace(tzinfo=None) if shown is not None else None


def _labels() -> dict[str, Any]:
    return {"met": MET_LABELS, "kind": KIND_LABELS, "category": CATEGORY_LABELS,
            "state": STATE_LABELS}


@bp.route("/findings/<int:finding_id>")
@require(WORK)
def finding(finding_id: int):
    """Where a notification about a referred finding leads: its visit or patrol."""
    try:
        found = svc.get_finding(current_session(), current_user, finding_id)
    except svc.GridError:
        abort(404)
    if found.visit_id:
        return redirect(url_for("grid.visit", visit_id=found.visit_id))
    return redirect(url_for("grid.patrols"))


@bp.route("/patrols", methods=["GET", "POST"])
@require(WORK)
def patrols():
    """Record a patrol (and refer what was found in the same step); the recent patrols."""
    session = current_session()
    grids = [g for g in registry_reader(session, "grid", actor=current_user,
                                        purpose="grid patrol").grids()]
    grids = [g for g in grids if scope_allows(current_user, community=g["community"],
                                              grid=g["code"])]
    form = PatrolForm()
    form.grid.choices = [("", _("Choose a grid")), *((g["code"], g["name"]) for g in grids)]
    if form.validate_on_submit():
        try:
            patrol = svc.create_patrol(
                session, current_user, grid=form.grid.data, area=form.area.data,
                started_at=_local(form.started_at.data), ended_at=_local(form.ended_at.data),
                found=form.found.data or "", grids=grids)
            if form.refer_kind.data and not (form.found.data or "").strip():
                raise svc.GridError(N_("Say what you found to refer it."), "found")
            _refer_from(form, form.found.data or "", patrol=patrol)
        except svc.GridError as exc:
            session.rollback()
            _rule_error(form, exc, {"summary": "found", "kind": "refer_kind"})
        else:
            session.commit()
            flash(_("Patrol recorded."), "success")
            return redirect(url_for("grid.patrols"))
    recent = list(session.scalars(svc.patrols_query(current_user).limit(20)))
    findings = {p.id: svc.findings_of(session, patrol_id=p.id) for p in recent}
    days = _correction_days()
    kept: dict[int, list[Any]] = {}
    for c in corrections_of(session, patrol_ids=[p.id for p in recent]):
        if c.patrol_id is not None:
            kept.setdefault(c.patrol_id, []).append(c)
    corrections = {pid: _correction_rows(session, rows) for pid, rows in kept.items()}
    can_correct = {p.id for p in recent if correction_state(session, current_user, p, days=days)
                   in ("supervisor", "recorder")}
    return render_template("grid/patrols.html", form=form, errors=_errors(form), patrols=recent,
                           findings=findings, corrections=corrections,
                           can_correct=can_correct, labels=_labels()), \
        400 if form.errors else 200


@bp.route("/coverage")
@require(SUPERVISE)
def coverage():
    """Coverage per grid (visited on time / overdue / never), as a server-drawn chart with
    the numbers in a table; counted on today's date in app.timezone."""
    session = current_session()
    on = svc.today()
    rows = svc.coverage(session, current_user, on=on,
                        settings=current_kernel().plugins.settings("grid"))
    charts = {
        "on_time": bar_chart([Row(r.grid, r.name, r.on_time) for r in rows],
                             title=_("Visited on time"), chart_id="grid-on-time"),
        "overdue": bar_chart([Row(r.grid, r.name, r.overdue + r.never) for r in rows],
                             title=_("Overdue or never visited"), chart_id="grid-overdue"),
    }
    return render_template("grid/coverage.html", rows=rows, charts=charts, on=on)
