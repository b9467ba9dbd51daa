"""Footage access pages: opening a clip for an incident, the second officer's queue of
footage requests, the footage log for auditors and the retention report — the
privacy-critical pages, together."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Optional

from core.toolkit import Length, current_session, has_permission, request_facts, require
from plugins.surveillance import FOOTAGE_APPROVE, FOOTAGE_LOG, FOOTAGE_VIEW, RETENTION_READ
from plugins.surveillance import services as svc
from plugins.surveillance.models import Clip
from plugins.surveillance.views.common import (
    REQUEST_LABELS,
    _errors,
    _label,
    _message,
    _or_404,
    bp,
    settings,
)
from plugins.surveillance.views.incident_desk import FootageForm


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
    decision = HiddenField(validators=[DataRequired(message=_l("Choose to approve or refuse."))])
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
