"""Schemas of the operations the staff pages had alone (``api_admin``): early-warning
rules, clip references and their retention, one camera and its status, the desk's
numbers. OpenAPI component names are global, so each is prefixed with the plugin."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import JsonBoolean, Pattern, Strict
from plugins.surveillance.models import CAMERA_STATUSES, INCIDENT_KINDS, RULE_KINDS, SEVERITIES
from plugins.surveillance.schemas import CODE, LINE

COMMUNITY = Pattern(r"^\d{12}$")


def _name(**kw: object) -> fields.String:
    return fields.String(validate=[validate.Length(1, 100), Pattern(LINE)], **kw)


# ------------------------------------------------------------------------------ rules


class SurveillanceRule(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"enum": list(RULE_KINDS)})
    incident_kind = fields.String(allow_none=True)
    community_code = fields.String(allow_none=True)
    threshold = fields.Integer(required=True)
    window_minutes = fields.Integer(required=True)
    severity = fields.String(required=True)
    active = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)


class SurveillanceRuleList(Schema):
    items = fields.List(fields.Nested(SurveillanceRule), required=True)


class SurveillanceRuleIn(Strict):
    """A rule: ``burst`` (``threshold`` incidents of a kind within ``window_minutes`` in a
    community), ``unacknowledged`` (an incident left unacknowledged ``window_minutes``),
    ``camera_offline`` (``threshold`` cameras offline in a community)."""

    name = _name(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(RULE_KINDS))
    incident_kind = fields.String(load_default=None, allow_none=True,
                                  validate=validate.OneOf(INCIDENT_KINDS))
    community_code = fields.String(load_default=None, allow_none=True, validate=COMMUNITY,
                                   metadata={"description": "None: every community"})
    threshold = fields.Integer(load_default=3, strict=True, validate=validate.Range(1, 1000))
    window_minutes = fields.Integer(load_default=60, strict=True,
                                    validate=validate.Range(1, 10080))
    severity = fields.String(load_default="medium", validate=validate.OneOf(SEVERITIES))


class SurveillanceRulePatch(Strict):
    """Any of a rule's settings; ``active: false`` disables it, ``true`` enables it."""

    name = _name()
    kind = fields.String(validate=validate.OneOf(RULE_KINDS))
    incident_kind = fields.String(allow_none=True, validate=validate.OneOf(INCIDENT_KINDS))
    community_code = fields.String(allow_none=True, validate=COMMUNITY)
    threshold = fields.Integer(strict=True, validate=validate.Range(1, 1000))
    window_minutes = fields.Integer(strict=True, validate=validate.Range(1, 10080))
    severity = fields.String(validate=validate.OneOf(SEVERITIES))
    active = JsonBoolean()


# ------------------------------------------------------------------------------ clips


class SurveillanceClipIn(Strict):
    """A reference to footage kept in the camera or VMS (never the video)."""

    camera_code = fields.String(required=True,
                                validate=[validate.Length(1, 40), Pattern(CODE)])
    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    reference = fields.String(load_default="", validate=[validate.Length(max=300)], metadata={
        "description": "The VMS's own reference; shown only when the clip is opened"})


class SurveillanceClip(Schema):
    """A clip without its reference: opening it (``/clips/{id}/open``) needs a purpose and
    is logged."""

    id = fields.Integer(required=True)
    incident_id = fields.Integer(allow_none=True)
    camera_code = fields.String(required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    created_at = fields.DateTime(required=True)
    purge_after = fields.DateTime(required=True, metadata={
        "description": "When the retention purge removes it"})
    held = fields.Boolean(required=True, metadata={
        "description": "An open incident holds it past purge_after (legal hold)"})


class SurveillanceClipList(Schema):
    items = fields.List(fields.Nested(SurveillanceClip), required=True)


class SurveillancePurgeRun(Schema):
    at = fields.DateTime(required=True)
    cutoff = fields.DateTime(required=True)
    clips_purged = fields.Integer(required=True)
    media_purged = fields.Integer(required=True)
    held = fields.Integer(required=True)
    reports_erased = fields.Integer(required=True)
    actor_name = fields.String(required=True)


class SurveillanceRetention(Schema):
    """The retention report: the period, what the next purge removes and holds, the
    schedule and the last purges."""

    retention_days = fields.Integer(required=True)
    purge_interval_seconds = fields.Integer(required=True)
    last_run_at = fields.DateTime(allow_none=True)
    next_run_after = fields.DateTime(required=True)
    cutoff = fields.DateTime(required=True, metadata={
        "description": "Clip references made before this are due (unless held)"})
    due = fields.Integer(required=True)
    held = fields.Integer(required=True)
    clips = fields.Integer(required=True)
    runs = fields.List(fields.Nested(SurveillancePurgeRun), required=True)


# ------------------------------------------------------------------------------ cameras, desk


class SurveillanceCameraStatusIn(Strict):
    status = fields.String(required=True, validate=validate.OneOf(CAMERA_STATUSES))


class SurveillanceCount(Schema):
    key = fields.String(required=True)
    count = fields.Integer(required=True)


class SurveillanceDesk(Schema):
    """The security desk's numbers within the caller's places (days in the configured
    timezone)."""

    open_incidents = fields.Integer(required=True)
    open_alerts = fields.Integer(required=True)
    offline_cameras = fields.List(fields.String(), required=True)
    recent_total = fields.Integer(required=True)
    per_day = fields.List(fields.Nested(SurveillanceCount), required=True, metadata={
        "description": "Incidents per day (MM-DD), the last 14 days"})
    per_kind = fields.List(fields.Nested(SurveillanceCount), required=True)
