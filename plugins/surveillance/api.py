"""The JSON API, mounted by core at ``/api/v1/surveillance``.

Staff endpoints answer within the caller's places (others' objects are 404). Devices and
video analytics call ``/cameras/<code>/heartbeat`` and ``/ingest`` with a bearer token
limited to ``surveillance.device.heartbeat`` / ``surveillance.incident.ingest`` (``shequ
identity token create <user> --permission ...``). Residents use ``/reports`` (their own
only) and ``/cameras/public``, whose schemas have no stream address to leak.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint, abort

from core.api.pagination import PageArgs, paginate
from core.audit.web import request_facts
from core.db import current_session
from core.identity import require, require_login
from plugins.surveillance import (
    CAMERA_MANAGE,
    CAMERA_READ,
    FOOTAGE_LOG,
    FOOTAGE_VIEW,
    HEARTBEAT,
    INCIDENT_HANDLE,
    INCIDENT_READ,
    INGEST,
)
from plugins.surveillance import services as svc
from plugins.surveillance.models import Clip
from plugins.surveillance.schemas import (
    AlertPage,
    CameraPage,
    FootagePage,
    IncidentPage,
    SurveillanceAlert,
    SurveillanceAlertActionIn,
    SurveillanceCamera,
    SurveillanceCameraIn,
    SurveillanceFootage,
    SurveillanceFootageIn,
    SurveillanceHeartbeat,
    SurveillanceHeartbeatIn,
    SurveillanceIncident,
    SurveillanceIncidentIn,
    SurveillanceIngestHeaders,
    SurveillanceIngestIn,
    SurveillancePublicCameraList,
    SurveillanceReport,
    SurveillanceReportIn,
    SurveillanceReportList,
    SurveillanceTransitionIn,
)

blp = Blueprint(
    "surveillance_api",
    __name__,
    description="Safety: cameras, incidents, alerts and footage access",
)
AUTH = [{"bearerAuth": []}]


def _bus() -> Any:
    return current_app.extensions["shequ"].bus


def _fail(exc: svc.SurveillanceError) -> None:
    from flask_babel import gettext as _

    current_session().rollback()
    text = _(exc.message, **exc.params)
    if exc.status == 422:
        abort(422, messages={exc.field or "_schema": [text]})
    abort(exc.status, message=text)


def _incident_out(incident: Any) -> Any:
    """The staff view of an incident: the reporter only as a masked name."""
    incident.reporter = None
    if incident.reporter_id:
        from core.identity.models import User

        user = current_session().get(User, incident.reporter_id)
        incident.reporter = svc.mask_name(user.display_name or user.username) if user else None
    return incident


# ------------------------------------------------------------------------------ cameras


@blp.route("/cameras")
class Cameras(MethodView):
    @require(CAMERA_READ)
    @blp.doc(security=AUTH)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, CameraPage)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {CAMERA_READ}")
    def get(self, args):
        """Cameras in the caller's places, with stream addresses (staff only)."""
        return paginate(current_session(), svc.cameras_query(current_user), args)

    @require(CAMERA_MANAGE)
    @blp.doc(security=AUTH)
    @blp.arguments(SurveillanceCameraIn)
    @blp.response(201, SurveillanceCamera)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {CAMERA_MANAGE}")
    @blp.alt_response(409, schema="Error", description="The code is taken")
    @blp.alt_response(422, schema="Error", description="Invalid fields")
    def post(self, data):
        """Add a camera to the inventory."""
        session = current_session()
        try:
            camera = svc.create_camera(session, current_user, **data)
        except svc.SurveillanceError as exc:
            _fail(exc)
        session.commit()
        return camera


@blp.route("/cameras/public")
class PublicCameras(MethodView):
    @blp.response(200, SurveillancePublicCameraList)
    def get(self):
        """Where each camera is and what it is for — public on purpose (PIPL Art. 26
        transparency); no stream address, no officer."""
        return {"items": svc.public_cameras(current_session())}


@blp.route("/cameras/<string:camera_code>/heartbeat")
class Heartbeat(MethodView):
    @require(HEARTBEAT)
    @blp.doc(security=AUTH)
    @blp.arguments(SurveillanceHeartbeatIn, required=False)
    @blp.response(200, SurveillanceHeartbeat)
    @blp.alt_response(401, schema="Error", description="No or invalid token")
    @blp.alt_response(403, schema="Error", description=f"Token lacks {HEARTBEAT}")
    @blp.alt_response(404, schema="Error", description="No such camera in the token's places")
    def post(self, data, camera_code: str):
        """A device or VMS reports the camera alive."""
        session = current_session()
        try:
            camera = svc.camera_by_code(session, current_user, camera_code)
        except svc.SurveillanceError as exc:
            _fail(exc)
        svc.heartbeat(session, camera)
        session.commit()
        return camera


# ------------------------------------------------------------------------------ incidents


@blp.route("/incidents")
class Incidents(MethodView):
    @require(INCIDENT_READ)
    @blp.doc(security=AUTH)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, IncidentPage)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {INCIDENT_READ}")
    def get(self, args):
        """Incidents in the caller's places, newest first."""
        page = paginate(current_session(), svc.incidents_query(current_user), args)
        page["items"] = [_incident_out(i) for i in page["items"]]
        return page

    @require(INCIDENT_HANDLE)
    @blp.doc(security=AUTH)
    @blp.arguments(SurveillanceIncidentIn)
    @blp.response(201, SurveillanceIncident)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {INCIDENT_HANDLE}")
    @blp.alt_response(404, schema="Error", description="No such camera")
    @blp.alt_response(422, schema="Error", description="Invalid fields")
    def post(self, data):
        """Raise an incident (staff); publishes surveillance.incident.raised."""
        session = current_session()
        try:
            camera = (
                svc.camera_by_code(session, current_user, data["camera_code"])
                if data.get("camera_code")
                else None
            )
            community = data.get("community_code")
            if camera is None and not svc.in_place(current_user, community, None):
                raise svc.SurveillanceError(
                    svc.N_("This place is outside the areas you are assigned to."), "community_code"
                )
            incident = svc.raise_incident(
                session,
                _bus(),
                current_user,
                source="staff",
                kind=data["kind"],
                severity=data["severity"],
                description=data.get("description", ""),
                location=data.get("location", ""),
                community_code=community,
                camera=camera,
            )
        except svc.SurveillanceError as exc:
            _fail(exc)
        session.commit()
        return _incident_out(incident)


@blp.route("/incidents/<int:incident_id>")
class IncidentItem(MethodView):
    @require(INCIDENT_READ)
    @blp.doc(security=AUTH)
    @blp.response(200, SurveillanceIncident)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {INCIDENT_READ}")
    @blp.alt_response(404, schema="Error", description="No such incident in your places")
    def get(self, incident_id: int):
        """One incident with its timeline."""
        try:
            incident = svc.get_incident(current_session(), current_user, incident_id)
        except svc.SurveillanceError as exc:
            _fail(exc)
        return _incident_out(incident)


@blp.route("/incidents/<int:incident_id>/transitions")
class IncidentTransition(MethodView):
    @require(INCIDENT_HANDLE)
    @blp.doc(security=AUTH)
    @blp.arguments(SurveillanceTransitionIn)
    @blp.response(200, SurveillanceIncident)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {INCIDENT_HANDLE}")
    @blp.alt_response(404, schema="Error", description="No such incident in your places")
    @blp.alt_response(409, schema="Error", description="Not allowed from the current state, or "
                      "the assignee is not a security officer or grid worker")
    @blp.alt_response(422, schema="Error", description="Invalid fields")
    def post(self, data, incident_id: int):
        """acknowledge, dispatch (with assignee_id), resolve or false_alarm."""
        session = current_session()
        try:
            incident = svc.get_incident(session, current_user, incident_id)
            svc.transition(
                session,
                _bus(),
                current_user,
                incident,
                data["action"],
                note=data.get("note", ""),
                assignee_id=data.get("assignee_id"),
            )
        except svc.SurveillanceError as exc:
            _fail(exc)
        session.commit()
        return _incident_out(incident)


@blp.route("/ingest")
class Ingest(MethodView):
    @require(INGEST)
    @blp.doc(security=AUTH)
    @blp.arguments(SurveillanceIngestHeaders, location="headers")
    @blp.arguments(SurveillanceIngestIn)
    @blp.response(201, SurveillanceIncident)
    @blp.alt_response(
        200,
        schema=SurveillanceIncident,
        description="A retry: the incident the first call with this key made",
    )
    @blp.alt_response(401, schema="Error", description="No or invalid token")
    @blp.alt_response(403, schema="Error", description=f"Token lacks {INGEST}")
    @blp.alt_response(404, schema="Error", description="No such camera")
    @blp.alt_response(422, schema="Error", description="Invalid fields or no Idempotency-Key")
    def post(self, headers, data):
        """An incident from video analytics. The same Idempotency-Key again returns the
        same incident (200) instead of making a second one."""
        session = current_session()
        try:
            incident, created = svc.ingest_incident(
                session,
                _bus(),
                current_user,
                key=headers["idempotency_key"],
                camera_code=data["camera_code"],
                kind=data["kind"],
                severity=data["severity"],
                description=data.get("description", ""),
                occurred_at=data.get("occurred_at"),
            )
        except svc.SurveillanceError as exc:
            _fail(exc)
        session.commit()
        return _incident_out(incident), 201 if created else 200


# ------------------------------------------------------------------------------ residents


@blp.route("/reports")
class Reports(MethodView):
    @require_login
    @blp.doc(security=AUTH)
    @blp.response(200, SurveillanceReportList)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    def get(self):
        """The caller's own reports and their status."""
        return {"items": svc.own_reports(current_session(), current_user)}

    @require_login
    @blp.doc(security=AUTH)
    @blp.arguments(SurveillanceReportIn)
    @blp.response(201, SurveillanceReport)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(422, schema="Error", description="Invalid fields")
    def post(self, data):
        """Report a safety concern (the page also takes a photo)."""
        session = current_session()
        try:
            incident = svc.raise_incident(
                session,
                _bus(),
                current_user,
                source="resident",
                kind=data["kind"],
                description=data["description"],
                location=data["location"],
                community_code=data.get("community_code"),
                reporter_id=current_user.id,
                reporter_person_id=getattr(current_user, "person_id", None),
            )
        except svc.SurveillanceError as exc:
            _fail(exc)
        session.commit()
        return incident


@blp.route("/reports/<int:incident_id>")
class ReportItem(MethodView):
    @require_login
    @blp.doc(security=AUTH)
    @blp.response(200, SurveillanceReport)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(404, schema="Error", description="Not one of your reports")
    def get(self, incident_id: int):
        """One of the caller's reports; anyone else's is 404."""
        try:
            return svc.own_report(current_session(), current_user, incident_id)
        except svc.SurveillanceError as exc:
            _fail(exc)


# ------------------------------------------------------------------------------ alerts


@blp.route("/alerts")
class Alerts(MethodView):
    @require(INCIDENT_READ)
    @blp.doc(security=AUTH)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, AlertPage)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {INCIDENT_READ}")
    def get(self, args):
        """Alerts in the caller's communities, newest first."""
        return paginate(current_session(), svc.alerts_query(current_user), args)


@blp.route("/alerts/<int:alert_id>/actions")
class AlertAction(MethodView):
    @require(INCIDENT_HANDLE)
    @blp.doc(security=AUTH)
    @blp.arguments(SurveillanceAlertActionIn)
    @blp.response(200, SurveillanceAlert)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {INCIDENT_HANDLE}")
    @blp.alt_response(404, schema="Error", description="No such alert in your communities")
    @blp.alt_response(409, schema="Error", description="Already done")
    @blp.alt_response(422, schema="Error", description="Invalid fields")
    def post(self, data, alert_id: int):
        """Acknowledge, escalate, or publish the alert to residents (publishes
        surveillance.public_alert.published)."""
        session = current_session()
        try:
            alert = svc.get_alert(session, current_user, alert_id)
            svc.alert_action(session, _bus(), current_user, alert, data["action"])
        except svc.SurveillanceError as exc:
            _fail(exc)
        session.commit()
        return alert


# ------------------------------------------------------------------------------ footage


@blp.route("/clips/<int:clip_id>/open")
class ClipOpen(MethodView):
    @require(FOOTAGE_VIEW)
    @blp.doc(security=AUTH)
    @blp.arguments(SurveillanceFootageIn)
    @blp.response(200, SurveillanceFootage)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(
        403, schema="Error", description="No permission, or no open incident (refusal logged)"
    )
    @blp.alt_response(404, schema="Error", description="No such clip in your places")
    @blp.alt_response(422, schema="Error", description="Invalid fields (refusal logged)")
    def post(self, data, clip_id: int):
        """View or export a clip reference: needs an open incident and a purpose; every
        attempt is logged."""
        session = current_session()
        try:
            entry = svc.open_clip(
                session,
                current_user,
                clip_id,
                incident_id=data.get("incident_id"),
                purpose=data["purpose"],
                action=data["action"],
                facts=request_facts(),
            )
        except svc.SurveillanceError as exc:
            if exc.status != 404:
                session.commit()  # keep the logged refusal
            _fail(exc)
        session.commit()
        clip = session.get(Clip, clip_id)
        return {
            "access_id": entry.id,
            "clip_id": clip.id,
            "camera_code": clip.camera.code,
            "starts_at": clip.starts_at,
            "ends_at": clip.ends_at,
            "reference": clip.reference,
        }


@blp.route("/footage-log")
class FootageLog(MethodView):
    @require(FOOTAGE_LOG)
    @blp.doc(security=AUTH)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, FootagePage)
    @blp.alt_response(401, schema="Error", description="Not signed in")
    @blp.alt_response(403, schema="Error", description=f"Lacks {FOOTAGE_LOG}")
    def get(self, args):
        """Every view, export and refusal, newest first (auditors)."""
        return paginate(current_session(), svc.footage_log_query(), args)
