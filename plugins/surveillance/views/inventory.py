"""The camera inventory pages: list, add, one camera and its status (staff, scoped to
their places by the services)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Optional

from core.toolkit import Length, current_session, has_permission, require
from plugins.surveillance import CAMERA_MANAGE, CAMERA_READ
from plugins.surveillance import services as svc
from plugins.surveillance.models import Incident
from plugins.surveillance.views.common import (
    PLACE_LABELS,
    _choices,
    _communities,
    _errors,
    _field_error,
    _or_404,
    bp,
)


class CameraForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(message=_l("Enter the camera's code, for example CAM-001.")),
                    Length(max=40)],
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(message=_l("Enter the camera's name.")), Length(max=100)],
    )
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
        validators=[DataRequired(message=_l("Say why a camera is needed here.")),
                    Length(max=300)],
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
