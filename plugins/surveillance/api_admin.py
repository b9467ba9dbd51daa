"""The API of what the staff pages did alone: early-warning rules, registering clip
references on an incident and their retention, one camera and its status, an
incident's photo and the security desk's numbers.

Routes on the plugin's one blueprint (``api.blp``, ``/api/v1/surveillance``), with the
pages' permissions and the same services, so every check and audit entry is the pages'.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, send_file
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy import func, select

from core.toolkit import current_session, endpoint, plugin_settings, request_facts
from plugins.surveillance import (
    CAMERA_MANAGE,
    CAMERA_READ,
    INCIDENT_HANDLE,
    INCIDENT_READ,
    RETENTION_READ,
    RULE_MANAGE,
)
from plugins.surveillance import services as svc
from plugins.surveillance.api import NO_INCIDENT, _fail, blp
from plugins.surveillance.models import AlertRule, Clip, Incident
from plugins.surveillance.schemas import SurveillanceCamera
from plugins.surveillance.schemas_admin import (
    SurveillanceCameraStatusIn,
    SurveillanceClip,
    SurveillanceClipIn,
    SurveillanceClipList,
    SurveillanceDesk,
    SurveillanceRetention,
    SurveillanceRule,
    SurveillanceRuleIn,
    SurveillanceRuleList,
    SurveillanceRulePatch,
)

NO_RULE = "No such rule"
NO_CAMERA = "No such camera in your places"


def _settings() -> dict[str, Any]:
    return plugin_settings("surveillance")


def _rule(rule_id: int) -> AlertRule:
    rule = svc.get_row(current_session(), AlertRule, rule_id)
    if rule is None:
        abort(404, message=_("No such rule."))
    return rule


def _incident(incident_id: int) -> Incident:
    try:
        return svc.get_incident(current_session(), current_user, incident_id)
    except svc.SurveillanceError as exc:
        _fail(exc)


def _clip_out(clip: Clip, incident: Incident | None) -> dict[str, Any]:
    return {
        "id": clip.id, "incident_id": clip.incident_id, "camera_code": clip.camera.code,
        "starts_at": clip.starts_at, "ends_at": clip.ends_at, "created_at": clip.created_at,
        **svc.clip_schedule(clip, incident, retention_days=_settings()["retention_days"]),
    }


# ------------------------------------------------------------------------------ rules


@blp.route("/rules")
class Rules(MethodView):
    @endpoint(blp, RULE_MANAGE)
    @blp.response(200, SurveillanceRuleList)
    def get(self):
        """Every early-warning rule, active or not, in the order they were made."""
        return {"items": list(current_session().scalars(select(AlertRule).order_by(
            AlertRule.id)))}

    @endpoint(blp, RULE_MANAGE, errors=(409, 422), descriptions={
        409: "Refused by the rule's checks (fields say which)"})
    @blp.arguments(SurveillanceRuleIn)
    @blp.response(201, SurveillanceRule)
    def post(self, data):
        """Add a rule (audited); it applies from the next incident or check."""
        session = current_session()
        try:
            rule = svc.create_rule(session, current_user, **data)
        except svc.SurveillanceError as exc:
            exc.status = 409
            _fail(exc)
        session.commit()
        return rule, 201


@blp.route("/rules/<int:rule_id>")
class RuleItem(MethodView):
    @endpoint(blp, RULE_MANAGE, errors=(404,), descriptions={404: NO_RULE})
    @blp.response(200, SurveillanceRule)
    def get(self, rule_id: int):
        """One rule."""
        return _rule(rule_id)

    @endpoint(blp, RULE_MANAGE, errors=(404, 409, 422), descriptions={
        404: NO_RULE, 409: "Refused by the rule's checks (fields say which)"})
    @blp.arguments(SurveillanceRulePatch)
    @blp.response(200, SurveillanceRule)
    def patch(self, data, rule_id: int):
        """Change a rule's settings, or disable (``active: false``) or enable it, as the
        rules page's switch does. Audited with what changed."""
        session = current_session()
        rule = _rule(rule_id)
        try:
            svc.update_rule(session, current_user, rule, **data)
        except svc.SurveillanceError as exc:
            exc.status = 409
            _fail(exc)
        session.commit()
        return rule


# ------------------------------------------------------------------------------ clips


@blp.route("/incidents/<int:incident_id>/clips")
class IncidentClips(MethodView):
    @endpoint(blp, INCIDENT_READ, errors=(404,), descriptions={404: NO_INCIDENT})
    @blp.response(200, SurveillanceClipList)
    def get(self, incident_id: int):
        """The incident's clip references (never the reference itself: open a clip for
        that), each with when the retention purge removes it and whether the open
        incident holds it."""
        incident = _incident(incident_id)
        clips = current_session().scalars(
            select(Clip).where(Clip.incident_id == incident.id).order_by(Clip.starts_at,
                                                                         Clip.id))
        return {"items": [_clip_out(c, incident) for c in clips]}

    @endpoint(blp, INCIDENT_HANDLE, errors=(404, 409, 422), descriptions={
        404: "No such incident, or no such camera, in your places",
        409: "The end is not after the start, or the clip covers more than 24 hours"})
    @blp.arguments(SurveillanceClipIn)
    @blp.response(201, SurveillanceClip)
    def post(self, data, incident_id: int):
        """Register a clip reference on the incident (the footage stays in the camera or
        VMS); it is on the incident's timeline and purged after the retention period
        unless the incident is still open."""
        session = current_session()
        incident = _incident(incident_id)
        try:
            camera = svc.camera_by_code(session, current_user, data["camera_code"])
            clip = svc.add_clip(session, current_user, incident, camera=camera,
                                starts_at=data["starts_at"], ends_at=data["ends_at"],
                                reference=data["reference"])
        except svc.SurveillanceError as exc:
            if exc.status == 422:
                exc.status = 409
            _fail(exc)
        session.commit()
        return _clip_out(clip, incident), 201


@blp.route("/retention")
class Retention(MethodView):
    @endpoint(blp, RETENTION_READ)
    @blp.response(200, SurveillanceRetention)
    def get(self):
        """The retention report: the period, what the next purge would remove and what
        open incidents hold, when the purge last ran and is next due, the last purges."""
        return svc.retention_state(current_session(),
                                   retention_days=_settings()["retention_days"])


# ------------------------------------------------------------------------------ cameras


@blp.route("/cameras/<int:camera_id>")
class CameraItem(MethodView):
    @endpoint(blp, CAMERA_READ, errors=(404,), descriptions={404: NO_CAMERA})
    @blp.response(200, SurveillanceCamera)
    def get(self, camera_id: int):
        """One camera of your places, with its stream address (staff only)."""
        try:
            return svc.get_camera(current_session(), current_user, camera_id)
        except svc.SurveillanceError as exc:
            _fail(exc)


@blp.route("/cameras/<int:camera_id>/status")
class CameraStatus(MethodView):
    @endpoint(blp, CAMERA_MANAGE, errors=(404, 422), descriptions={404: NO_CAMERA})
    @blp.arguments(SurveillanceCameraStatusIn)
    @blp.response(200, SurveillanceCamera)
    def post(self, data, camera_id: int):
        """Set a camera online, offline or in maintenance (audited)."""
        session = current_session()
        try:
            camera = svc.get_camera(session, current_user, camera_id)
            svc.set_camera_status(session, current_user, camera, data["status"])
        except svc.SurveillanceError as exc:
            _fail(exc)
        session.commit()
        return camera


# ------------------------------------------------------------------------------ photo, desk


@blp.route("/incidents/<int:incident_id>/photo")
class IncidentPhoto(MethodView):
    @endpoint(blp, INCIDENT_READ, errors=(404,), descriptions={
        404: "No such incident in your places, or it has no photo (or it was purged)"})
    @blp.response(200, description="The photo the reporter sent (JPEG or PNG)",
                  content_type="image/jpeg")
    def get(self, incident_id: int):
        """The photo of a resident's report; each view is in the reporter's access log,
        as on the incident page."""
        session = current_session()
        incident = _incident(incident_id)
        path = svc.photo_file(incident, svc.media_dir(current_app.instance_path,
                                                      _settings()["media_dir"]))
        if path is None:
            abort(404, message=_("This incident has no photo."))
        svc.log_photo_view(session, incident, current_user, facts=request_facts())
        session.commit()
        return send_file(path, mimetype=incident.photo_type, max_age=0)


@blp.route("/desk")
class Desk(MethodView):
    @endpoint(blp, INCIDENT_READ)
    @blp.response(200, SurveillanceDesk)
    def get(self):
        """The security desk's numbers in your places: open incidents and alerts,
        offline cameras, incidents per day and per kind over the last 14 days."""
        session = current_session()
        n = svc.dashboard_numbers(session, current_user)
        alerts = svc.alerts_query(current_user, open_only=True).order_by(None)
        open_alerts = session.scalar(select(func.count()).select_from(alerts.subquery()))
        return {
            "open_incidents": n["open_incidents"], "open_alerts": open_alerts or 0,
            "offline_cameras": [c.code for c in n["offline"]],
            "recent_total": n["recent_total"],
            "per_day": [{"key": k, "count": v} for k, v in n["per_day"].items()],
            "per_kind": [{"key": k, "count": v} for k, v in n["per_kind"].items()],
        }
