"""The staff desk and the incident pages: list, raise, one incident with its timeline,
workflow actions, the report photo and clip references."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateTimeLocalField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Optional

from core.toolkit import (
    Length,
    Row,
    bar_chart,
    current_session,
    has_permission,
    request_facts,
    require,
)
from plugins.surveillance import FOOTAGE_VIEW, INCIDENT_HANDLE, INCIDENT_READ
from plugins.surveillance import services as svc
from plugins.surveillance.models import Clip, FootageRequest, Incident
from plugins.surveillance.views.common import (
    ACTION_LABELS,
    KIND_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    _choices,
    _communities,
    _errors,
    _field_error,
    _label,
    _message,
    _or_404,
    bp,
    bus,
    media,
)

# ------------------------------------------------------------------------------ staff


@bp.route("/desk")
@require(INCIDENT_READ)
def desk():
    n = svc.dashboard_numbers(current_session(), current_user)
    per_day = [Row(k, k, v) for k, v in n["per_day"].items()]
    per_kind = [Row(k, _label(KIND_LABELS, k), v) for k, v in n["per_kind"].items()]
    charts = [
        (
            "day",
            _("Incidents per day (last 14 days)"),
            bar_chart(
                per_day,
                title=_("Incidents per day (last 14 days)"),
                chart_id="chart-day",
                label_width=80,
            ),
            per_day,
        ),
        (
            "kind",
            _("Incidents by kind (last 14 days)"),
            bar_chart(per_kind, title=_("Incidents by kind (last 14 days)"), chart_id="chart-kind"),
            per_kind,
        ),
    ]
    return render_template("surveillance/desk.html", n=n, charts=charts)


@bp.route("/incidents")
@require(INCIDENT_READ)
def incidents():
    status = request.args.get("status") or None
    open_only = status is None and request.args.get("all") is None
    rows = current_session().scalars(
        svc.incidents_query(current_user, status=status, open_only=open_only).limit(200)
    )
    return render_template(
        "surveillance/incidents.html",
        incidents=list(rows),
        status=status,
        open_only=open_only,
        may_handle=has_permission(current_user, INCIDENT_HANDLE),
    )


def _local(value: datetime | None) -> datetime | None:
    """A form's date and time (naive: the wall clock the officer read) in the configured
    time zone, whatever the server's own zone is."""
    if value is None:
        return None
    return value.replace(tzinfo=svc.local_zone()) if value.tzinfo is None else value


class WhenField(DateTimeLocalField):
    """A date-and-time input whose error names what is expected ("Enter when the clip
    starts as a date and a time") instead of WTForms' "Not a valid datetime value"; an
    empty input is no value (so "required" speaks alone, once)."""

    def __init__(self, *args: Any, invalid: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invalid = invalid

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not " ".join(str(v) for v in valuelist).strip():
            self.data = None
            return
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(str(self.invalid or _("Enter a date and a time."))) from None


class IncidentForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=_choices([(k, v) for k, v in KIND_LABELS.items()]))
    severity = SelectField(
        _l("Severity"),
        choices=_choices([(k, v) for k, v in SEVERITY_LABELS.items()]),
        default="medium",
    )
    community = SelectField(_l("Community"), validators=[Optional()])
    camera_code = StringField(_l("Camera code (optional)"), validators=[Optional(), Length(max=40)])
    location = StringField(_l("Location"), validators=[Optional(), Length(max=200)])
    occurred_at = WhenField(
        _l("When did it happen?"),
        invalid=_l("Enter when it happened as a date and a time, for example 2026-12-07 08:30."),
        validators=[Optional()],
        description=_l("Leave empty for now. Footage can be opened only around this time."),
    )
    description = TextAreaField(
        _l("Description"),
        validators=[DataRequired(message=_l("Describe the incident.")), Length(max=2000)],
    )


@bp.route("/incidents/new", methods=["GET", "POST"])
@require(INCIDENT_HANDLE)
def incident_new():
    form = IncidentForm()
    form.community.choices = _choices([("", "—"), *_communities()])
    if form.validate_on_submit():
        session = current_session()
        try:
            camera = (
                svc.camera_by_code(session, current_user, form.camera_code.data.strip())
                if form.camera_code.data
                else None
            )
            community = form.community.data or None
            if camera is None and not svc.in_place(current_user, community, None):
                raise svc.SurveillanceError(
                    svc.N_("This place is outside the areas you are assigned to."), "community"
                )
            incident = svc.raise_incident(
                session,
                bus(),
                current_user,
                source="staff",
                kind=form.kind.data,
                severity=form.severity.data,
                description=form.description.data,
                location=form.location.data,
                community_code=community,
                camera=camera,
                occurred_at=_local(form.occurred_at.data),
            )
        except svc.SurveillanceError as exc:
            session.rollback()
            if exc.field == "camera_code" or exc.field == "camera":
                exc.field = "camera_code"
            _field_error(form, exc)
        else:
            session.commit()
            flash(_("Incident %(id)s raised.", id=incident.id), "success")
            return redirect(url_for("surveillance.incident", incident_id=incident.id))
    status = 400 if form.errors or form.form_errors else 200
    return render_template(
        "surveillance/incident_new.html",
        form=form,
        errors=_errors(form) + [("", e) for e in form.form_errors],
    ), status


class ActionForm(FlaskForm):
    action = SelectField(
        _l("Next step"), choices=_choices([(k, v) for k, v in ACTION_LABELS.items()])
    )
    assignee_id = SelectField(_l("Send to"), coerce=int, validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ClipForm(FlaskForm):
    camera_code = StringField(
        _l("Camera code"),
        validators=[DataRequired(message=_l("Enter the camera's code, for example CAM-001.")),
                    Length(max=40)],
    )
    starts_at = WhenField(
        _l("From"), validators=[InputRequired(message=_l("Enter when the clip starts."))],
        invalid=_l("Enter when the clip starts as a date and a time."),
    )
    ends_at = WhenField(
        _l("To"), validators=[InputRequired(message=_l("Enter when the clip ends."))],
        invalid=_l("Enter when the clip ends as a date and a time."),
    )
    reference = StringField(_l("VMS reference"), validators=[Optional(), Length(max=300)])


class FootageForm(FlaskForm):
    incident_id = HiddenField()
    purpose = StringField(
        _l("Purpose"),
        validators=[DataRequired(message=_l("Say why you need to see this footage.")),
                    Length(max=300)],
        description=_l("Why you need to see this footage."),
    )
    action = SelectField(
        _l("View or export"), choices=_choices([("view", _l("View")), ("export", _l("Export"))])
    )


def _incident_page(
    incident: Incident, status: int = 200, *, action_form=None, clip_form=None, errors=None
):
    session = current_session()
    staff = svc.assignable_staff(session)
    action_form = action_form or ActionForm()
    action_form.assignee_id.choices = _choices(
        [(0, "—")] + [(u.id, u.display_name or u.username) for u in staff]
    )
    clips = list(
        session.scalars(
            select(Clip).where(Clip.incident_id == incident.id).order_by(Clip.starts_at)
        )
    )
    requests = list(
        session.scalars(
            svc.footage_requests_query(current_user).where(
                FootageRequest.incident_id == incident.id
            )
        )
    )
    # The page is a display of the reporter: the reader's access log gets it now.
    reporter = svc.reporter_view(session, incident, current_user, facts=request_facts())
    session.commit()
    return render_template(
        "surveillance/incident.html",
        incident=incident,
        action_form=action_form,
        clip_form=clip_form or ClipForm(),
        clips=clips,
        requests=requests,
        reporter=reporter,
        errors=errors or [],
        may_handle=has_permission(current_user, INCIDENT_HANDLE),
        may_view=has_permission(current_user, FOOTAGE_VIEW),
        allowed=[
            (a, ACTION_LABELS[a])
            for a, (src, _t) in svc.TRANSITIONS.items()
            if incident.status in src
        ],
    ), status


@bp.route("/incidents/<int:incident_id>")
@require(INCIDENT_READ)
def incident(incident_id: int):
    inc = _or_404(svc.get_incident, current_session(), current_user, incident_id)
    return _incident_page(inc)


@bp.route("/incidents/<int:incident_id>/action", methods=["POST"])
@require(INCIDENT_HANDLE)
def incident_action(incident_id: int):
    session = current_session()
    inc = _or_404(svc.get_incident, session, current_user, incident_id)
    form = ActionForm()
    form.assignee_id.choices = _choices(
        [(0, "—")] + [(u.id, "") for u in svc.assignable_staff(session)]
    )
    if not form.validate_on_submit():
        return _incident_page(inc, 400, action_form=form, errors=_errors(form))
    try:
        svc.transition(
            session,
            bus(),
            current_user,
            inc,
            form.action.data,
            note=form.note.data or "",
            assignee_id=form.assignee_id.data or None,
        )
    except svc.SurveillanceError as exc:
        session.rollback()
        inc = svc.get_incident(session, current_user, incident_id)
        return _incident_page(inc, exc.status, action_form=form, errors=[("action", _message(exc))])
    session.commit()
    flash(_("Incident updated: %(status)s.", status=_label(STATUS_LABELS, inc.status)), "success")
    return redirect(url_for("surveillance.incident", incident_id=inc.id))


@bp.route("/incidents/<int:incident_id>/photo")
@require(INCIDENT_READ)
def incident_photo(incident_id: int):
    session = current_session()
    inc = _or_404(svc.get_incident, session, current_user, incident_id)
    path = svc.photo_file(inc, media())
    if path is None:
        abort(404)
    svc.log_photo_view(session, inc, current_user, facts=request_facts())
    session.commit()
    return send_file(path, mimetype=inc.photo_type, max_age=0)


@bp.route("/incidents/<int:incident_id>/clips", methods=["POST"])
@require(INCIDENT_HANDLE)
def clip_new(incident_id: int):
    session = current_session()
    inc = _or_404(svc.get_incident, session, current_user, incident_id)
    form = ClipForm()
    if form.validate_on_submit():
        try:
            cam = svc.camera_by_code(session, current_user, form.camera_code.data.strip())
            svc.add_clip(
                session,
                current_user,
                inc,
                camera=cam,
                starts_at=_local(form.starts_at.data),
                ends_at=_local(form.ends_at.data),
                reference=form.reference.data or "",
            )
        except svc.SurveillanceError as exc:
            session.rollback()
            exc.field = "camera_code" if exc.field in ("camera", "camera_code") else exc.field
            _field_error(form, exc)
        else:
            session.commit()
            flash(_("Footage reference added."), "success")
            return redirect(url_for("surveillance.incident", incident_id=inc.id))
    inc = svc.get_incident(session, current_user, incident_id)
    return _incident_page(inc, 400, clip_form=form, errors=_errors(form))
