"""Pages, mounted by core at ``/grid``. Thin: the rules are in ``services``; what is shown
of persons goes through ``presenters`` (masked, logged)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    DateTimeLocalField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Optional

from core.toolkit import (
    N_,
    Length,
    Row,
    bar_chart,
    current_kernel,
    current_session,
    mask_name,
    registry_reader,
    require,
)
from plugins.grid import SUPERVISE, WORK
from plugins.grid import services as svc
from plugins.grid.presenters import RECORD_PURPOSE, log_visits, task_rows
from plugins.grid.services.common import zone

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
        if target is None:
            target = form.refer_kind if hasattr(form, "refer_kind") else None
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
    return value.replace(tzinfo=zone()) if value is not None else None


@bp.route("/")
@require(WORK)
def index():
    """The worker's task list: persons due a visit in their grids, overdue first."""
    session = current_session()
    settings = current_kernel().plugins.settings("grid")
    tasks = svc.due_tasks(session, current_user, lookahead=settings["lookahead_days"])
    rows = task_rows(session, current_user, tasks[: settings["page_size"]])
    session.commit()
    return render_template("grid/index.html", rows=rows, total=len(tasks),
                           rules=svc.rule_map(), status_labels=STATUS_LABELS,
                           today=svc.today())


@bp.route("/persons/<int:person_id>", methods=["GET", "POST"])
@require(WORK)
def person(person_id: int):
    """One person's visits and the form to record a new one (with its referral)."""
    session = current_session()
    try:
        view = svc.visible_person(session, current_user, person_id, RECORD_PURPOSE)
    except svc.GridError:
        from flask import abort

        abort(404)
    form = VisitForm()
    if not form.is_submitted():
        form.visited_on.data = svc.today()
    if form.validate_on_submit():
        try:
            visit = svc.create_visit(
                session, current_user, person_id=person_id, visited_on=form.visited_on.data,
                met=form.met.data, findings=form.findings.data or "", needs=form.needs.data or "",
                follow_up=form.follow_up.data or "", follow_up_on=form.follow_up_on.data)
            if form.refer_kind.data and not (form.findings.data or "").strip():
                raise svc.GridError(N_("Say what you found to refer it."), "findings")
            _refer_from(form, form.findings.data or "", visit=visit)
        except svc.GridError as exc:
            session.rollback()
            _rule_error(form, exc, {"summary": "findings", "kind": "refer_kind"})
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
                           met_labels=MET_LABELS, rules=svc.rule_map()), \
        400 if form.errors else 200


@bp.route("/visits/<int:visit_id>", methods=["GET", "POST"])
@require(WORK)
def visit(visit_id: int):
    """A visit record, its referred findings with their onward status, and the form to
    refer a finding afterwards."""
    session = current_session()
    try:
        found = svc.get_visit(session, current_user, visit_id)
    except svc.GridError:
        from flask import abort

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
    person_view = registry_reader(session, "grid", actor=current_user,
                                  purpose=RECORD_PURPOSE).persons([found.person_id])
    log_visits(session, [found])
    session.commit()
    name = mask_name(person_view[0]["name"]) if person_view else ""
    return render_template("grid/visit.html", v=found, name=name, form=form,
                           errors=_errors(form),
                           findings=svc.findings_of(session, visit_id=found.id),
                           labels=_labels()), 400 if form.errors else 200


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
        from flask import abort

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
    from core.toolkit import scope_allows

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
    return render_template("grid/patrols.html", form=form, errors=_errors(form), patrols=recent,
                           findings=findings, labels=_labels()), 400 if form.errors else 200


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
