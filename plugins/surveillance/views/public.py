"""Pages for anyone and for signed-in residents: the start page with public notices,
where the cameras are and what each is for (PIPL Art. 26 transparency; no stream, no
officer), reporting a safety concern with a photo, and one's own reports (anyone else's
is 404)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired

from core.toolkit import Length, current_session, has_permission, registry_reader, require_login
from plugins.surveillance import INCIDENT_READ, info
from plugins.surveillance import services as svc
from plugins.surveillance.views.common import (
    KIND_LABELS,
    _choices,
    _communities,
    _errors,
    _field_error,
    _or_404,
    bp,
    bus,
    media,
    settings,
)

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
        validators=[InputRequired(message=_l("Choose what the concern is."))],
    )
    description = TextAreaField(
        _l("Describe what you saw"),
        validators=[DataRequired(message=_l("Describe what you saw.")), Length(max=2000)],
    )
    community = SelectField(
        _l("Community"), validators=[InputRequired(message=_l("Choose the community."))]
    )
    location = StringField(
        _l("Where exactly?"),
        validators=[DataRequired(message=_l("Say where exactly it is.")), Length(max=200)],
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
