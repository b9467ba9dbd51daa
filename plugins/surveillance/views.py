"""Pages, mounted by core at ``/surveillance``. Thin: the rules are in ``services``.

Three audiences, three sets of pages:

* anyone: the start page with public safety notices, and where the cameras are and what
  each is for (PIPL Art. 26 transparency; no stream, no officer);
* a signed-in resident: report a safety concern (with a photo), and the status of their
  own reports (anyone else's is 404);
* security staff: the desk (dashboard), cameras, incidents, alerts, rules, footage
  requests (a second officer's approval), footage log, retention report — scoped to their
  communities and grids by the services.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from core.toolkit import (
    Row,
    bar_chart,
    current_kernel,
    current_session,
    has_permission,
    plugin_settings,
    registry_reader,
    request_facts,
    require,
    require_login,
)
from plugins.surveillance import (
    CAMERA_MANAGE,
    CAMERA_READ,
    FOOTAGE_APPROVE,
    FOOTAGE_LOG,
    FOOTAGE_VIEW,
    INCIDENT_HANDLE,
    INCIDENT_READ,
    RETENTION_READ,
    RULE_MANAGE,
    info,
)
from plugins.surveillance import services as svc
from plugins.surveillance.models import AlertRule, Clip, FootageRequest, Incident

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) pairs
    SelectChoice = None  # type: ignore[assignment,misc]

bp = Blueprint("surveillance", __name__, template_folder="templates")


def _choices(pairs: Any) -> list[Any]:
    """Select options for this WTForms version (3.3 deprecates plain pairs)."""
    return [SelectChoice(v, lbl) if SelectChoice else (v, lbl) for v, lbl in pairs]


KIND_LABELS = {
    "fire_hazard": _l("Fire hazard"),
    "fire_lane_blocked": _l("Blocked fire lane"),
    "theft": _l("Theft"),
    "fight": _l("Fight"),
    "elderly_fallen": _l("Elderly person fallen"),
    "flooding": _l("Flooding"),
    "suspicious_activity": _l("Suspicious activity"),
    "other": _l("Other"),
}
STATUS_LABELS = {
    "raised": _l("Raised"),
    "acknowledged": _l("Acknowledged"),
    "dispatched": _l("Dispatched"),
    "resolved": _l("Resolved"),
    "false_alarm": _l("False alarm"),
    "online": _l("Online"),
    "offline": _l("Offline"),
    "maintenance": _l("Maintenance"),
    "open": _l("Unresolved"),
    "escalated": _l("Escalated"),
}
STEP_LABELS = {
    **STATUS_LABELS,
    "clip_added": _l("Footage reference added"),
    "footage_view": _l("Footage viewed"),
    "footage_export": _l("Footage exported"),
    "footage_requested": _l("Footage requested (needs a second officer)"),
    "footage_request_approved": _l("Footage request approved"),
    "footage_request_refused": _l("Footage request refused"),
    "photo_purged": _l("Photo deleted (retention)"),
    "reporter_erased": _l("Reporter erased (retention)"),
}
REQUEST_LABELS = {
    "pending": _l("Waiting for a second officer"),
    "approved": _l("Approved"),
    "refused": _l("Refused"),
    "opened": _l("Opened"),
}
SOURCE_LABELS = {
    "staff": _l("by staff"),
    "resident": _l("by a resident"),
    "analytics": _l("by video analytics"),
}
SEVERITY_LABELS = {
    "low": _l("Low"),
    "medium": _l("Medium"),
    "high": _l("High"),
    "critical": _l("Critical"),
}
PLACE_LABELS = {
    "entrance": _l("Entrance"),
    "road": _l("Road"),
    "square": _l("Public square"),
    "parking": _l("Parking"),
    "lobby": _l("Lobby"),
    "playground": _l("Playground"),
    "riverside": _l("Riverside"),
    "other": _l("Other place"),
}
RULE_LABELS = {
    "burst": _l("Several incidents in an area"),
    "unacknowledged": _l("Incident not acknowledged in time"),
    "camera_offline": _l("Cameras offline in an area"),
}
ACTION_LABELS = {
    "acknowledge": _l("Acknowledge"),
    "dispatch": _l("Dispatch"),
    "resolve": _l("Resolve"),
    "false_alarm": _l("Mark as false alarm"),
}
STATUS_TAGS = {
    "raised": "tag-warn",
    "acknowledged": "tag-new",
    "dispatched": "tag-new",
    "resolved": "tag-ok",
    "false_alarm": "tag-off",
    "online": "tag-ok",
    "offline": "tag-failed",
    "maintenance": "tag-warn",
    "open": "tag-warn",
    "escalated": "tag-failed",
}


def _label(table: dict[str, Any], key: str | None) -> str:
    return str(table.get(key or "", key or "—"))


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "sv": {
            "kind": lambda k: _label(KIND_LABELS, k),
            "status": lambda k: _label(STATUS_LABELS, k),
            "step": lambda k: _label(STEP_LABELS, k),
            "severity": lambda k: _label(SEVERITY_LABELS, k),
            "note": lambda step: (
                _label(SOURCE_LABELS, step.note) if step.action == "raised" else step.note
            ),
            "place": lambda k: _label(PLACE_LABELS, k),
            "rule": lambda k: _label(RULE_LABELS, k),
            "tag": lambda k: STATUS_TAGS.get(k, ""),
            "request": lambda k: _label(REQUEST_LABELS, k),
        }
    }


def settings() -> dict[str, Any]:
    return plugin_settings(info.id)


def bus() -> Any:
    return current_kernel().bus


def media() -> Any:
    return svc.media_dir(current_app.instance_path, settings()["media_dir"])


def _communities() -> list[tuple[str, str]]:
    reader = registry_reader(current_session(), info.id, actor=None, purpose="place list")
    return [(c["code"], c["name"]) for c in reader.communities()]


def _or_404(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except svc.SurveillanceError as exc:
        if exc.status == 404:
            abort(404)
        raise


def _errors(form: FlaskForm) -> list[tuple[str, str]]:
    return [(name, str(e)) for name, errs in form.errors.items() for e in errs]


def _message(exc: svc.SurveillanceError) -> str:
    """The error in the reader's language, a state named by its label."""
    params = dict(exc.params)
    if "state" in params:
        params["state"] = _label(STATUS_LABELS, params["state"])
    return _(exc.message, **params)


def _field_error(form: FlaskForm, exc: svc.SurveillanceError) -> None:
    text = _message(exc)
    field = getattr(form, exc.field, None)
    if field is not None and hasattr(field, "errors"):
        if isinstance(field.errors, tuple):
            field.errors = list(field.errors)
        field.errors.append(text)
    else:
        form.form_errors.append(text)


# ------------------------------------------------------------------------------ public


@bp.route("/")
def index():
    """Public on purpose: the start page and the safety notices meant for everyone."""
    notices = svc.public_notices(current_session())
    return render_template(
        "surveillance/index.html",
        info=info,
        notices=notices,
        staff=has_permission(current_user, INCIDENT_READ),
    )


@bp.route("/cameras/where")
def where():
    """Public on purpose (PIPL Art. 26): where each camera is and what it is for; never
    its stream address or its officer."""
    community = request.args.get("community") or None
    cameras = svc.public_cameras(current_session(), community)
    return render_template(
        "surveillance/where.html",
        cameras=cameras,
        communities=dict(_communities()),
        community=community,
    )


# ------------------------------------------------------------------------------ residents


class ReportForm(FlaskForm):
    kind = SelectField(
        _l("What is the concern?"),
        choices=_choices([(k, v) for k, v in KIND_LABELS.items()]),
        validators=[InputRequired()],
    )
    description = TextAreaField(
        _l("Describe what you saw"), validators=[DataRequired(), Length(max=2000)]
    )
    community = SelectField(_l("Community"), validators=[InputRequired()])
    location = StringField(
        _l("Where exactly?"),
        validators=[DataRequired(), Length(max=200)],
        description=_l("For example: building 3, near the bicycle shed."),
    )
    photo = FileField(_l("Photo (optional)"), description=_l("A JPEG or PNG photo, at most 5 MB."))


def _own_community() -> str | None:
    person_id = getattr(current_user, "person_id", None)
    if not person_id:
        return None
    reader = registry_reader(
        current_session(), info.id, actor=current_user, purpose="safety report",
        enforce_place=False,
    )
    try:
        return reader.person(person_id).get("community")
    except Exception:  # the person may be outside the reader's reach: ask instead
        return None


@bp.route("/report", methods=["GET", "POST"])
@require_login
def report():
    form = ReportForm()
    form.community.choices = _choices(_communities())
    if request.method == "GET" and not form.community.data:
        form.community.data = _own_community()
    if form.validate_on_submit():
        session = current_session()
        try:
            incident = svc.raise_incident(
                session,
                bus(),
                current_user,
                source="resident",
                kind=form.kind.data,
                description=form.description.data,
                location=form.location.data,
                community_code=form.community.data,
                reporter_id=current_user.id,
                reporter_person_id=getattr(current_user, "person_id", None),
            )
            upload = form.photo.data
            if upload and getattr(upload, "filename", ""):
                svc.store_photo(
                    incident,
                    upload.read(settings()["photo_max_bytes"] + 1),
                    media(),
                    max_bytes=settings()["photo_max_bytes"],
                )
        except svc.SurveillanceError as exc:
            session.rollback()
            _field_error(form, exc)
        else:
            session.commit()
            flash(_("Thank you. Your report number is %(id)s.", id=incident.id), "success")
            return redirect(url_for("surveillance.my_report", incident_id=incident.id))
    status = 400 if form.errors or form.form_errors else 200
    return render_template(
        "surveillance/report.html",
        form=form,
        errors=_errors(form) + [("", e) for e in form.form_errors],
    ), status


@bp.route("/my-reports")
@require_login
def my_reports():
    return render_template(
        "surveillance/my_reports.html", reports=svc.own_reports(current_session(), current_user)
    )


@bp.route("/my-reports/<int:incident_id>")
@require_login
def my_report(incident_id: int):
    incident = _or_404(svc.own_report, current_session(), current_user, incident_id)
    return render_template("surveillance/my_report.html", incident=incident)


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


class CameraForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    community_code = SelectField(_l("Community"), validators=[Optional()])
    grid_code = StringField(_l("Grid code"), validators=[Optional(), Length(max=32)])
    location = StringField(
        _l("Location"),
        validators=[Optional(), Length(max=200)],
        description=_l("Where it is, in words residents understand."),
    )
    place_kind = SelectField(
        _l("Kind of place"), choices=_choices([(k, v) for k, v in PLACE_LABELS.items()])
    )
    purpose = StringField(
        _l("Purpose"),
        validators=[DataRequired(), Length(max=300)],
        description=_l("Why a camera is needed here, for public security."),
    )
    signage_confirmed = BooleanField(_l("A visible sign is in place"))
    privacy_masks = StringField(
        _l("Privacy masks declared"),
        validators=[Optional(), Length(max=300)],
        description=_l("For example: windows of flats masked."),
    )
    officer_id = SelectField(_l("Responsible officer"), coerce=int, validators=[Optional()])
    stream_url = StringField(
        _l("Stream address (staff systems only)"), validators=[Optional(), Length(max=500)]
    )


@bp.route("/cameras")
@require(CAMERA_READ)
def cameras():
    status = request.args.get("status") or None
    rows = current_session().scalars(svc.cameras_query(current_user, status=status).limit(200))
    return render_template(
        "surveillance/cameras.html",
        cameras=list(rows),
        status=status,
        may_manage=has_permission(current_user, CAMERA_MANAGE),
    )


@bp.route("/cameras/new", methods=["GET", "POST"])
@require(CAMERA_MANAGE)
def camera_new():
    form = CameraForm()
    form.community_code.choices = _choices([("", "—"), *_communities()])
    form.officer_id.choices = _choices(
        [(0, "—")]
        + [(u.id, u.display_name or u.username) for u in svc.assignable_staff(current_session())]
    )
    if form.validate_on_submit():
        session = current_session()
        data = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        data["officer_id"] = data.get("officer_id") or None
        try:
            camera = svc.create_camera(session, current_user, **data)
        except svc.SurveillanceError as exc:
            session.rollback()
            _field_error(form, exc)
        else:
            session.commit()
            flash(_("Camera %(code)s added.", code=camera.code), "success")
            return redirect(url_for("surveillance.camera", camera_id=camera.id))
    status = 400 if form.errors or form.form_errors else 200
    return render_template("surveillance/camera_new.html", form=form, errors=_errors(form)), status


class StatusForm(FlaskForm):
    status = SelectField(
        _l("Status"),
        choices=_choices(
            [
                ("online", _l("Online")),
                ("maintenance", _l("Maintenance")),
                ("offline", _l("Offline")),
            ]
        ),
    )


@bp.route("/cameras/<int:camera_id>")
@require(CAMERA_READ)
def camera(camera_id: int):
    cam = _or_404(svc.get_camera, current_session(), current_user, camera_id)
    form = StatusForm(status=cam.status)
    incidents = current_session().scalars(
        svc.incidents_query(current_user).where(Incident.camera_id == cam.id).limit(20)
    )
    officer = svc.staff_name(current_session(), cam.officer_id)
    return render_template(
        "surveillance/camera.html",
        camera=cam,
        officer=officer,
        form=form,
        incidents=list(incidents),
        may_manage=has_permission(current_user, CAMERA_MANAGE),
    )


@bp.route("/cameras/<int:camera_id>/status", methods=["POST"])
@require(CAMERA_MANAGE)
def camera_status(camera_id: int):
    session = current_session()
    cam = _or_404(svc.get_camera, session, current_user, camera_id)
    form = StatusForm()
    if not form.validate_on_submit():
        flash(_("Choose a status."), "error")
        return redirect(url_for("surveillance.camera", camera_id=cam.id))
    svc.set_camera_status(session, current_user, cam, form.status.data)
    session.commit()
    flash(_("Status changed."), "success")
    return redirect(url_for("surveillance.camera", camera_id=cam.id))


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
    occurred_at = DateTimeLocalField(
        _l("When did it happen?"),
        validators=[Optional()],
        description=_l("Leave empty for now. Footage can be opened only around this time."),
    )
    description = TextAreaField(_l("Description"), validators=[DataRequired(), Length(max=2000)])


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
                occurred_at=form.occurred_at.data.astimezone() if form.occurred_at.data else None,
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
    camera_code = StringField(_l("Camera code"), validators=[DataRequired(), Length(max=40)])
    starts_at = DateTimeLocalField(_l("From"), validators=[DataRequired()])
    ends_at = DateTimeLocalField(_l("To"), validators=[DataRequired()])
    reference = StringField(_l("VMS reference"), validators=[Optional(), Length(max=300)])


class FootageForm(FlaskForm):
    incident_id = HiddenField()
    purpose = StringField(
        _l("Purpose"),
        validators=[DataRequired(), Length(max=300)],
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
                starts_at=form.starts_at.data.astimezone(),
                ends_at=form.ends_at.data.astimezone(),
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


@bp.route("/clips/<int:clip_id>/open", methods=["POST"])
@require(FOOTAGE_VIEW)
def clip_open(clip_id: int):
    session = current_session()
    form = FootageForm()
    try:
        incident_id = int(form.incident_id.data) if form.incident_id.data else None
    except ValueError:
        incident_id = None
    margin = settings()["footage_margin_minutes"]
    if not form.validate_on_submit():
        # Refused for want of a purpose: still logged (when the clip exists).
        try:
            svc.open_clip(
                session,
                current_user,
                clip_id,
                incident_id=incident_id,
                purpose="",
                action=form.action.data if form.action.data in ("view", "export") else "view",
                facts=request_facts(),
                margin_minutes=margin,
            )
        except svc.SurveillanceError as exc:
            if exc.status == 404:
                abort(404)
        session.commit()
        return render_template(
            "surveillance/footage.html", entry=None, clip=None, errors=_errors(form)
        ), 400
    try:
        entry = svc.open_clip(
            session,
            current_user,
            clip_id,
            incident_id=incident_id,
            purpose=form.purpose.data,
            action=form.action.data,
            facts=request_facts(),
            margin_minutes=margin,
        )
    except svc.SurveillanceError as exc:
        if exc.status == 404:
            abort(404)
        session.commit()  # the refusal stays in the log
        return render_template(
            "surveillance/footage.html", entry=None, clip=None, errors=[("", _(exc.message))]
        ), exc.status
    session.commit()
    if entry.outcome == "pending":
        return render_template(
            "surveillance/footage.html", entry=None, clip=None, errors=[], pending=entry
        )
    return render_template(
        "surveillance/footage.html", entry=entry, clip=session.get(Clip, clip_id), errors=[]
    )


class DecisionForm(FlaskForm):
    decision = HiddenField(validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300)])


@bp.route("/footage-requests")
@require(FOOTAGE_VIEW)
def footage_requests():
    """The queue of footage requests in the officer's places: a second officer approves
    or refuses the pending ones; the asker opens an approved one from here."""
    status = request.args.get("status") or None
    if status not in (None, "pending", "approved", "refused", "opened"):
        status = None
    rows = current_session().scalars(
        svc.footage_requests_query(current_user, status=status).limit(200)
    )
    return render_template(
        "surveillance/footage_requests.html",
        requests=list(rows),
        status=status,
        form=DecisionForm(),
        may_decide=has_permission(current_user, FOOTAGE_APPROVE),
        me=getattr(getattr(current_user, "actor", None) or current_user, "id", None),
    )


@bp.route("/footage-requests/<int:request_id>/decision", methods=["POST"])
@require(FOOTAGE_APPROVE)
def footage_decision(request_id: int):
    session = current_session()
    req = _or_404(svc.get_request, session, current_user, request_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        flash(_("Choose what to do."), "error")
        return redirect(url_for("surveillance.footage_requests")), 303
    try:
        svc.decide_request(
            session,
            current_user,
            req,
            form.decision.data,
            note=form.note.data or "",
            facts=request_facts(),
        )
    except svc.SurveillanceError as exc:
        if exc.status == 403:
            session.commit()  # the attempt stays in the audit log
        else:
            session.rollback()
        flash(_message(exc), "error")
        return redirect(url_for("surveillance.footage_requests")), 303
    session.commit()
    flash(_("Footage request %(id)s: %(status)s.", id=req.id,
            status=_label(REQUEST_LABELS, req.status)), "success")
    return redirect(url_for("surveillance.footage_requests"))


class AlertActionForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])


@bp.route("/alerts")
@require(INCIDENT_READ)
def alerts():
    rows = current_session().scalars(svc.alerts_query(current_user).limit(200))
    return render_template(
        "surveillance/alerts.html",
        alerts=list(rows),
        form=AlertActionForm(),
        may_handle=has_permission(current_user, INCIDENT_HANDLE),
    )


@bp.route("/alerts/<int:alert_id>/action", methods=["POST"])
@require(INCIDENT_HANDLE)
def alert_action(alert_id: int):
    session = current_session()
    alert = _or_404(svc.get_alert, session, current_user, alert_id)
    form = AlertActionForm()
    if not form.validate_on_submit():
        flash(_("Choose what to do."), "error")
        return redirect(url_for("surveillance.alerts")), 303
    try:
        svc.alert_action(session, bus(), current_user, alert, form.action.data)
    except svc.SurveillanceError as exc:
        session.rollback()
        flash(_(exc.message), "error")
        return redirect(url_for("surveillance.alerts")), 303
    session.commit()
    flash(_("Alert updated."), "success")
    return redirect(url_for("surveillance.alerts"))


class RuleForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    kind = SelectField(_l("When"), choices=_choices([(k, v) for k, v in RULE_LABELS.items()]))
    incident_kind = SelectField(
        _l("Incident kind"),
        choices=_choices([("", _l("Any kind")), *[(k, v) for k, v in KIND_LABELS.items()]]),
    )
    community_code = SelectField(_l("Community"), validators=[Optional()])
    threshold = IntegerField(
        _l("How many"), default=3, validators=[InputRequired(), NumberRange(1, 1000)]
    )
    window_minutes = IntegerField(
        _l("Within minutes (or the limit, in minutes)"),
        default=60,
        validators=[InputRequired(), NumberRange(1, 10080)],
    )
    severity = SelectField(
        _l("Severity"),
        choices=_choices([(k, v) for k, v in SEVERITY_LABELS.items()]),
        default="medium",
    )


@bp.route("/rules", methods=["GET", "POST"])
@require(RULE_MANAGE)
def rules():
    session = current_session()
    form = RuleForm()
    form.community_code.choices = _choices([("", _("Every community")), *_communities()])
    if form.validate_on_submit():
        data = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        try:
            svc.create_rule(session, current_user, **data)
        except svc.SurveillanceError as exc:
            session.rollback()
            _field_error(form, exc)
        else:
            session.commit()
            flash(_("Rule added."), "success")
            return redirect(url_for("surveillance.rules"))
    status = 400 if form.errors else 200
    rows = list(session.scalars(select(AlertRule).order_by(AlertRule.id)))
    return render_template(
        "surveillance/rules.html", form=form, rules=rows, errors=_errors(form)
    ), status


@bp.route("/rules/<int:rule_id>/toggle", methods=["POST"])
@require(RULE_MANAGE)
def rule_toggle(rule_id: int):
    session = current_session()
    rule = svc.get_row(session, AlertRule, rule_id)
    if rule is None:
        abort(404)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    svc.set_rule_active(session, current_user, rule, not rule.active)
    session.commit()
    return redirect(url_for("surveillance.rules"))


@bp.route("/footage-log")
@require(FOOTAGE_LOG)
def footage_log():
    outcome = request.args.get("outcome") or None
    rows = current_session().scalars(svc.footage_log_query(outcome=outcome).limit(200))
    return render_template("surveillance/footage_log.html", entries=list(rows), outcome=outcome)


@bp.route("/retention")
@require(RETENTION_READ)
def retention():
    session = current_session()
    days = settings()["retention_days"]
    return render_template(
        "surveillance/retention.html",
        days=days,
        runs=svc.purge_runs(session),
        counts=svc.held_counts(session, retention_days=days),
    )
