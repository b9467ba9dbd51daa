"""The JSON API, mounted by core at ``/api/v1/surveillance``.

Staff endpoints answer within the caller's places (others' objects are 404). Devices and
video analytics call ``/cameras/<code>/heartbeat`` and ``/ingest`` with a bearer token
limited to ``surveillance.device.heartbeat`` / ``surveillance.incident.ingest`` (``shequ
identity token create <user> --permission ...``). Residents use ``/reports`` (their own
only) and ``/cameras/public``, whose schemas have no stream address to leak.
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import abort

from core.toolkit import (
    ApiBlueprint,
    PageArgs,
    current_kernel,
    current_session,
    endpoint,
    paginate,
    plugin_settings,
    refuse,
    request_facts,
    require_login,
)
from plugins.surveillance import (
    CAMERA_MANAGE,
    CAMERA_READ,
    FOOTAGE_APPROVE,
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
    FootageRequestPage,
    IncidentPage,
    SurveillanceAlert,
    SurveillanceAlertActionIn,
    SurveillanceCamera,
    SurveillanceCameraIn,
    SurveillanceFootage,
    SurveillanceFootageDecisionIn,
    SurveillanceFootageIn,
    SurveillanceFootageRequest,
    SurveillanceFootageRequestArgs,
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

blp = ApiBlueprint(
    "surveillance_api",
    __name__,
    description="Safety: cameras, incidents, alerts and footage access",
)

#: What the API answers for a time of occurrence the clock refuses (docs/api.md, "422 or 409?").
TIME_REFUSED = "A time it happened in the future or more than 30 days back"
NO_INCIDENT = "No such incident in your places"


def _bus() -> Any:
    return current_kernel().bus


def _fail(exc: svc.SurveillanceError) -> NoReturn:
    """Roll back and answer the refusal in the API's error shape (toolkit :func:`refuse`).
    A 422 keeps the generic message, its text under ``fields`` only, as this API has
    always answered invalid fields."""
    current_session().rollback()
    if exc.status == 422:
        abort(422, messages=exc.field_texts())
    refuse(exc)


def _shown(incidents: list[Any]) -> list[Any]:
    """The staff view of incidents: each reporter as :func:`services.reporter_view` names
    them for the caller (masked unless they are the officer sent), logged in the
    reporter's access log. Commits those log entries (the response is the display)."""
    session = current_session()
    facts = request_facts()
    for incident in incidents:
        shown = svc.reporter_view(session, incident, current_user, facts=facts)
        incident.reporter = shown.name if shown else None
        incident.reporter_masked = (not shown.full) if shown else None
    session.commit()
    return incidents


def _incident_out(incident: Any) -> Any:
    return _shown([incident])[0]


# ------------------------------------------------------------------------------ cameras


@blp.route("/cameras")
class Cameras(MethodView):
    @endpoint(blp, CAMERA_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, CameraPage)
    def get(self, args):
        """Cameras in the caller's places, with stream addresses (staff only)."""
        return paginate(current_session(), svc.cameras_query(current_user), args)

    @endpoint(blp, CAMERA_MANAGE, errors=(409, 422), descriptions={409: "The code is taken"})
    @blp.arguments(SurveillanceCameraIn)
    @blp.response(201, SurveillanceCamera)
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
    @endpoint(
        blp,
        HEARTBEAT,
        errors=(404,),
        descriptions={
            401: "No or invalid token",
            403: f"Token lacks {HEARTBEAT}",
            404: "No such camera in the token's places",
        },
    )
    @blp.arguments(SurveillanceHeartbeatIn, required=False)
    @blp.response(200, SurveillanceHeartbeat)
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
    @endpoint(blp, INCIDENT_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, IncidentPage)
    def get(self, args):
        """Incidents in the caller's places, newest first; each reporter shown is in their
        access log."""
        page = paginate(current_session(), svc.incidents_query(current_user), args)
        page["items"] = _shown(list(page["items"]))
        return page

    @endpoint(
        blp,
        INCIDENT_HANDLE,
        errors=(404, 409, 422),
        descriptions={404: "No such camera", 409: TIME_REFUSED},
    )
    @blp.arguments(SurveillanceIncidentIn)
    @blp.response(201, SurveillanceIncident)
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
                occurred_at=data.get("occurred_at"),
            )
        except svc.SurveillanceError as exc:
            _fail(exc)
        session.commit()
        return _incident_out(incident)


@blp.route("/incidents/<int:incident_id>")
class IncidentItem(MethodView):
    @endpoint(blp, INCIDENT_READ, errors=(404,), descriptions={404: NO_INCIDENT})
    @blp.response(200, SurveillanceIncident)
    def get(self, incident_id: int):
        """One incident with its timeline."""
        try:
            incident = svc.get_incident(current_session(), current_user, incident_id)
        except svc.SurveillanceError as exc:
            _fail(exc)
        return _incident_out(incident)


@blp.route("/incidents/<int:incident_id>/transitions")
class IncidentTransition(MethodView):
    @endpoint(
        blp,
        INCIDENT_HANDLE,
        errors=(404, 409, 422),
        descriptions={
            404: NO_INCIDENT,
            409: "Not allowed from the current state, the assignee is not a security "
            "officer or grid worker, or a closing action without its outcome note",
        },
    )
    @blp.arguments(SurveillanceTransitionIn)
    @blp.response(200, SurveillanceIncident)
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
    @endpoint(
        blp,
        INGEST,
        errors=(404, 409, 422),
        descriptions={
            401: "No or invalid token",
            403: f"Token lacks {INGEST}",
            404: "No such camera",
            409: TIME_REFUSED,
            422: "Invalid fields, no Idempotency-Key, or the key reused with a different body",
        },
    )
    @blp.arguments(SurveillanceIngestHeaders, location="headers")
    @blp.arguments(SurveillanceIngestIn)
    @blp.response(201, SurveillanceIncident)
    @blp.alt_response(
        200,
        schema=SurveillanceIncident,
        description="A retry: the incident the first call with this key made",
    )
    def post(self, headers, data):
        """An incident from video analytics. The same Idempotency-Key with the same body
        again returns the same incident (200) instead of making a second one; the key
        reused with a different body is refused (422)."""
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
    @endpoint(blp, require_login)
    @blp.response(200, SurveillanceReportList)
    def get(self):
        """The caller's own reports and their status."""
        return {"items": svc.own_reports(current_session(), current_user)}

    @endpoint(blp, require_login, errors=(422,))
    @blp.arguments(SurveillanceReportIn)
    @blp.response(201, SurveillanceReport)
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
    @endpoint(blp, require_login, errors=(404,), descriptions={404: "Not one of your reports"})
    @blp.response(200, SurveillanceReport)
    def get(self, incident_id: int):
        """One of the caller's reports; anyone else's is 404."""
        try:
            return svc.own_report(current_session(), current_user, incident_id)
        except svc.SurveillanceError as exc:
            _fail(exc)


# ------------------------------------------------------------------------------ alerts


@blp.route("/alerts")
class Alerts(MethodView):
    @endpoint(blp, INCIDENT_READ)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, AlertPage)
    def get(self, args):
        """Alerts in the caller's communities, newest first."""
        return paginate(current_session(), svc.alerts_query(current_user), args)


@blp.route("/alerts/<int:alert_id>/actions")
class AlertAction(MethodView):
    @endpoint(
        blp,
        INCIDENT_HANDLE,
        errors=(404, 409, 422),
        descriptions={404: "No such alert in your communities", 409: "Already done"},
    )
    @blp.arguments(SurveillanceAlertActionIn)
    @blp.response(200, SurveillanceAlert)
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
    @endpoint(
        blp,
        FOOTAGE_VIEW,
        errors=(404, 422),
        descriptions={
            403: "No permission, or no open incident (refusal logged)",
            404: "No such clip in your places",
            422: "Invalid fields, a clip of another incident, or one that does not cover "
            "the time the incident happened (refusal logged)",
        },
    )
    @blp.arguments(SurveillanceFootageIn)
    @blp.response(200, SurveillanceFootage)
    @blp.alt_response(
        202,
        schema=SurveillanceFootage,
        description="You raised this incident: a footage request waits for a second officer",
    )
    def post(self, data, clip_id: int):
        """View or export a clip reference: needs an open incident whose time of
        occurrence the clip covers, and a purpose; an incident the caller raised needs a
        second officer's approval first (202 with ``request_id``). Every attempt is
        logged."""
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
                margin_minutes=plugin_settings("surveillance")["footage_margin_minutes"],
            )
        except svc.SurveillanceError as exc:
            if exc.status != 404:
                session.commit()  # keep the logged refusal
            _fail(exc)
        session.commit()
        clip = session.get(Clip, clip_id)
        if entry.outcome == "pending":
            return {
                "access_id": entry.id,
                "status": "pending",
                "request_id": entry.request_id,
                "clip_id": clip.id,
                "camera_code": clip.camera.code,
            }, 202
        return {
            "access_id": entry.id,
            "status": "granted",
            "request_id": entry.request_id,
            "clip_id": clip.id,
            "camera_code": clip.camera.code,
            "starts_at": clip.starts_at,
            "ends_at": clip.ends_at,
            "reference": clip.reference,
        }


@blp.route("/footage-log")
class FootageLog(MethodView):
    @endpoint(blp, FOOTAGE_LOG)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, FootagePage)
    def get(self, args):
        """Every view, export and refusal, newest first (auditors)."""
        return paginate(current_session(), svc.footage_log_query(), args)


@blp.route("/footage-requests")
class FootageRequests(MethodView):
    @endpoint(blp, FOOTAGE_VIEW)
    @blp.arguments(SurveillanceFootageRequestArgs, location="query")
    @blp.response(200, FootageRequestPage)
    def get(self, args):
        """Footage requests in the caller's places, newest first (``status=pending``: the
        ones waiting for a second officer)."""
        query = svc.footage_requests_query(current_user, status=args.pop("status", None))
        return paginate(current_session(), query, args)


@blp.route("/footage-requests/<int:request_id>/decision")
class FootageDecision(MethodView):
    @endpoint(
        blp,
        FOOTAGE_APPROVE,
        errors=(404, 409, 422),
        descriptions={
            403: f"Lacks {FOOTAGE_APPROVE}, or it is your own request (attempt logged)",
            404: "No such request in your places",
            409: "Already decided, or the incident closed",
        },
    )
    @blp.arguments(SurveillanceFootageDecisionIn)
    @blp.response(200, SurveillanceFootageRequest)
    def post(self, data, request_id: int):
        """A second officer approves or refuses a footage request: ``{decision: approve |
        refuse, note?}``. An approval lets the asker open the clip once."""
        session = current_session()
        try:
            request = svc.get_request(session, current_user, request_id)
            svc.decide_request(
                session,
                current_user,
                request,
                data["decision"],
                note=data.get("note", ""),
                facts=request_facts(),
            )
        except svc.SurveillanceError as exc:
            if exc.status == 403:
                session.commit()  # keep the logged attempt
            _fail(exc)
        session.commit()
        return request
