"""marshmallow schemas: the API's input and output, and the events' payloads.

Two camera schemas on purpose: :class:`SurveillanceCamera` (staff) carries the stream
address; :class:`SurveillancePublicCamera` (anyone) cannot, because the field is not there.
Resident-facing report schemas likewise carry no staff-only fields.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import LINE, TEXT, Id, JsonBoolean, PageArgs, Pattern, page_schema
from plugins.surveillance.models import (
    CAMERA_STATUSES,
    INCIDENT_KINDS,
    PLACE_KINDS,
    SEVERITIES,
)

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def _line(n: int, **kw) -> fields.String:
    return fields.String(validate=[validate.Length(1, n), Pattern(LINE)], **kw)


# ------------------------------------------------------------------------------ cameras


class SurveillanceCameraIn(Schema):
    code = fields.String(required=True, validate=[validate.Length(1, 40), Pattern(CODE)])
    name = _line(100, required=True)
    community_code = fields.String(validate=Pattern(r"^\d{12}$"), allow_none=True)
    grid_code = fields.String(
        validate=[validate.Length(1, 32), Pattern(CODE)], allow_none=True
    )
    building_id = Id(allow_none=True, strict=False)  # as before: "12" is read too
    location = _line(200, required=True)
    place_kind = fields.String(load_default="other", validate=validate.OneOf(PLACE_KINDS))
    purpose = _line(300, required=True)
    signage_confirmed = JsonBoolean(load_default=False)
    privacy_masks = _line(300)
    stream_url = _line(500)


class SurveillancePublicCamera(Schema):
    """What residents see: where and what for. No stream address, no officer."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    community_code = fields.String(allow_none=True)
    location = fields.String()
    place_kind = fields.String()
    purpose = fields.String()
    signage_confirmed = fields.Boolean()
    privacy_masks = fields.String()
    status = fields.String()


class SurveillanceCamera(SurveillancePublicCamera):
    id = fields.Integer(required=True)
    grid_code = fields.String(allow_none=True)
    building_id = fields.Integer(allow_none=True)
    last_heartbeat_at = fields.DateTime(allow_none=True)
    officer_id = fields.Integer(allow_none=True)
    stream_url = fields.String()


CameraPage = page_schema(SurveillanceCamera, "SurveillanceCameraPage")


class SurveillancePublicCameraList(Schema):
    items = fields.List(fields.Nested(SurveillancePublicCamera), required=True)


class SurveillanceHeartbeatIn(Schema):
    """A heartbeat carries nothing but may say the time the device saw."""

    seen_at = fields.AwareDateTime(allow_none=True)


class SurveillanceHeartbeat(Schema):
    code = fields.String(required=True)
    status = fields.String(required=True)
    last_heartbeat_at = fields.DateTime(allow_none=True)


# ------------------------------------------------------------------------------ incidents


class SurveillanceIncidentIn(Schema):
    """A staff report: where it is in words (required), and a community or a camera."""

    kind = fields.String(required=True, validate=validate.OneOf(INCIDENT_KINDS))
    severity = fields.String(load_default="medium", validate=validate.OneOf(SEVERITIES))
    description = fields.String(validate=[validate.Length(1, 2000), Pattern(TEXT)])
    location = _line(200, required=True)
    community_code = fields.String(validate=Pattern(r"^\d{12}$"), allow_none=True)
    camera_code = fields.String(
        validate=[validate.Length(1, 40), Pattern(CODE)], allow_none=True
    )
    occurred_at = fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "When it happened (default: now); footage may be opened "
                  "only around this time."},
    )


class SurveillanceIngestIn(Schema):
    """An analytics detection. Send the ``Idempotency-Key`` header with it."""

    camera_code = fields.String(
        required=True, validate=[validate.Length(1, 40), Pattern(CODE)]
    )
    kind = fields.String(required=True, validate=validate.OneOf(INCIDENT_KINDS))
    severity = fields.String(load_default="medium", validate=validate.OneOf(SEVERITIES))
    description = fields.String(validate=[validate.Length(1, 2000), Pattern(TEXT)])
    occurred_at = fields.AwareDateTime(allow_none=True)


class SurveillanceIngestHeaders(Schema):
    idempotency_key = fields.String(
        required=True,
        data_key="Idempotency-Key",
        validate=[validate.Length(1, 100), Pattern(LINE)],
    )


class SurveillanceStep(Schema):
    at = fields.DateTime()
    action = fields.String()
    actor_name = fields.String()
    note = fields.String()


class SurveillanceIncident(Schema):
    """Staff view. The reporter is a name — masked (``张*``) except for the officer the
    incident is dispatched to — and ``reporter_masked``; every display is in the
    reporter's access log."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    severity = fields.String()
    status = fields.String()
    source = fields.String()
    description = fields.String()
    location = fields.String()
    community_code = fields.String(allow_none=True)
    grid_code = fields.String(allow_none=True)
    camera_code = fields.Function(lambda i: i.camera.code if i.camera else None)
    reporter = fields.String(allow_none=True)
    reporter_masked = fields.Boolean(allow_none=True)
    raised_by_id = fields.Integer(allow_none=True)
    assignee_id = fields.Integer(allow_none=True)
    has_photo = fields.Function(lambda i: bool(i.photo_path))
    raised_at = fields.DateTime()
    occurred_at = fields.DateTime()
    acknowledged_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    timeline = fields.List(fields.Nested(SurveillanceStep))


IncidentPage = page_schema(SurveillanceIncident, "SurveillanceIncidentPage")


class SurveillanceTransitionIn(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(("acknowledge", "dispatch", "resolve", "false_alarm")),
    )
    note = _line(500)
    assignee_id = Id(allow_none=True, strict=False)  # as before: "12" is read too


class SurveillanceReportIn(Schema):
    """A resident's concern (the page also takes a photo)."""

    kind = fields.String(required=True, validate=validate.OneOf(INCIDENT_KINDS))
    description = fields.String(
        required=True, validate=[validate.Length(1, 2000), Pattern(TEXT)]
    )
    location = _line(200, required=True)
    community_code = fields.String(validate=Pattern(r"^\d{12}$"), allow_none=True)


class SurveillanceReportStep(Schema):
    """A step of a resident's report: what happened and when, not who did it."""

    at = fields.DateTime()
    action = fields.String()


class SurveillanceReport(Schema):
    """What a resident sees of their own report: its state and timeline steps."""

    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    description = fields.String()
    location = fields.String()
    raised_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    timeline = fields.List(fields.Nested(SurveillanceReportStep))


class SurveillanceReportList(Schema):
    items = fields.List(fields.Nested(SurveillanceReport), required=True)


# ------------------------------------------------------------------------------ alerts


class SurveillanceAlert(Schema):
    id = fields.Integer(required=True)
    kind = fields.String()
    severity = fields.String()
    title = fields.String()
    title_zh = fields.String()
    body = fields.String()
    community_code = fields.String(allow_none=True)
    camera_id = fields.Integer(allow_none=True)
    incident_id = fields.Integer(allow_none=True)
    rule_id = fields.Integer(allow_none=True)
    status = fields.String()
    public = fields.Boolean()
    raised_at = fields.DateTime()


class SurveillanceAlertActionIn(Schema):
    action = fields.String(
        required=True, validate=validate.OneOf(("acknowledge", "escalate", "publish"))
    )


AlertPage = page_schema(SurveillanceAlert, "SurveillanceAlertPage")


class SurveillanceFootageIn(Schema):
    incident_id = Id(allow_none=True, strict=False)  # as before: "12" is read too
    purpose = _line(300, required=True)
    action = fields.String(load_default="view", validate=validate.OneOf(("view", "export")))


class SurveillanceFootage(Schema):
    """``status`` ``granted`` (200: the reference and window) or ``pending`` (202: the
    incident was raised by the asker; ``request_id`` waits for a second officer)."""

    access_id = fields.Integer(required=True)
    status = fields.String(required=True)
    request_id = fields.Integer(allow_none=True)
    clip_id = fields.Integer(required=True)
    camera_code = fields.String()
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    reference = fields.String()


class SurveillanceFootageRequest(Schema):
    id = fields.Integer(required=True)
    created_at = fields.DateTime()
    clip_id = fields.Integer()
    incident_id = fields.Integer()
    camera_code = fields.String()
    community_code = fields.String(allow_none=True)
    requester_id = fields.Integer(allow_none=True)
    requester_name = fields.String()
    action = fields.String()
    purpose = fields.String()
    status = fields.String()
    decided_by_name = fields.String()
    decided_at = fields.DateTime(allow_none=True)
    note = fields.String()
    opened_at = fields.DateTime(allow_none=True)


FootageRequestPage = page_schema(SurveillanceFootageRequest, "SurveillanceFootageRequestPage")


class SurveillanceFootageRequestArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(("pending", "approved", "refused", "opened")))


class SurveillanceFootageDecisionIn(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(("approve", "refuse")))
    note = _line(300)


class SurveillanceFootageEntry(Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime()
    actor_name = fields.String()
    clip_id = fields.Integer()
    camera_code = fields.String()
    incident_id = fields.Integer(allow_none=True)
    action = fields.String()
    purpose = fields.String()
    outcome = fields.String()
    reason = fields.String()
    request_id = fields.Integer(allow_none=True)
    approver_name = fields.String()


FootagePage = page_schema(SurveillanceFootageEntry, "SurveillanceFootagePage")


# ------------------------------------------------------------------------------ events


class IncidentRaisedEvent(Schema):
    incident_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    severity = fields.String(required=True)
    source = fields.String(required=True)
    community_code = fields.String(required=True, allow_none=True)
    camera_id = fields.Integer(required=True, allow_none=True)


class IncidentResolvedEvent(Schema):
    incident_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    outcome = fields.String(required=True)
    community_code = fields.String(required=True, allow_none=True)


class AlertRaisedEvent(Schema):
    alert_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    severity = fields.String(required=True)
    community_code = fields.String(required=True, allow_none=True)
    rule_id = fields.Integer(required=True, allow_none=True)


class PublicAlertEvent(Schema):
    """The agreed contract with self_governance: exactly these six fields."""

    alert_id = fields.Integer(required=True)
    community_id = fields.Integer(required=True, allow_none=True)
    title = fields.String(required=True)
    title_zh = fields.String(required=True)
    body = fields.String(required=True)
    severity = fields.String(required=True)


# Unused-import guard for the choices re-exported to the API docs.
__all__ = ["CAMERA_STATUSES"]
