"""``[plugins.surveillance.frigate]``: the MQTT broker, which Frigate cameras are which
surveillance cameras, and which Frigate labels become which incident kinds.

Validated with the rest of the plugin's settings at start-up (core loads the plugin's
``config_schema``, which nests :class:`FrigateConfig`), so a typo in a broker port or an
incident kind stops ``shequ`` with ``plugins.surveillance.frigate.rules.0.kind: ...``
instead of surfacing as a worker that silently ingests nothing.

The label mapping is data, not code: every district's Frigate names its zones
differently, so the defaults below are a starting point the operator overrides.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

#: The incident kinds and severities of plugins/surveillance/models.py. Repeated here
#: (and checked against the models by the tests) so validating the configuration does
#: not import the plugin's tables.
INCIDENT_KINDS = (
    "fire_hazard",
    "fire_lane_blocked",
    "theft",
    "fight",
    "elderly_fallen",
    "flooding",
    "suspicious_activity",
    "other",
)
SEVERITIES = ("low", "medium", "high", "critical")
MESSAGE_KINDS = ("events", "reviews")
REVIEW_SEVERITIES = ("alert", "detection")

#: What a district usually wants from Frigate: fire and smoke anywhere, a vehicle in the
#: fire lane, a person in a restricted area. Zones are Frigate zone names (``zones:`` in
#: the Frigate camera config); a rule without zones matches anywhere on the camera.
DEFAULT_RULES: list[dict[str, Any]] = [
    {"labels": ["fire", "smoke"], "zones": [], "kind": "fire_hazard", "severity": "high",
     "min_score": 0.0},
    {"labels": ["car", "motorcycle", "truck", "bus"], "zones": ["fire_lane"],
     "kind": "fire_lane_blocked", "severity": "medium", "min_score": 0.0},
    {"labels": ["person"], "zones": ["restricted"], "kind": "suspicious_activity",
     "severity": "medium", "min_score": 0.0},
]

_NAME = validate.Length(min=1, max=64)


class FrigateRule(Schema):
    """One mapping line: a message whose label (event) or objects (review) include one of
    ``labels``, and — when ``zones`` is not empty — that is in one of ``zones``, becomes an
    incident of ``kind`` with ``severity``. The first matching rule wins."""

    labels = fields.List(fields.String(validate=_NAME), required=True,
                         validate=validate.Length(min=1, max=50))
    zones = fields.List(fields.String(validate=_NAME), load_default=list,
                        validate=validate.Length(max=50))
    kind = fields.String(required=True, validate=validate.OneOf(INCIDENT_KINDS))
    severity = fields.String(load_default="medium", validate=validate.OneOf(SEVERITIES))
    #: Events only: the object's best score (``top_score``) must reach this.
    min_score = fields.Float(load_default=0.0, validate=validate.Range(0.0, 1.0))


class FrigateConfig(Schema):
    """The broker and the mappings; see docs/plugins/surveillance.md, "Frigate"."""

    host = fields.String(load_default="127.0.0.1", validate=validate.Length(min=1, max=253))
    port = fields.Integer(load_default=1883, validate=validate.Range(1, 65535))
    username = fields.String(load_default="", validate=validate.Length(max=200))
    #: Better set as SHEQU__PLUGINS__SURVEILLANCE__FRIGATE__PASSWORD in the environment.
    password = fields.String(load_default="", validate=validate.Length(max=200))
    tls = fields.Boolean(load_default=False)
    #: A CA bundle to check the broker's certificate against (default: the system's).
    tls_ca_file = fields.String(load_default="")
    client_id = fields.String(
        load_default="shequ-surveillance",
        validate=[validate.Length(min=1, max=64),
                  validate.Regexp(r"^[A-Za-z0-9_.-]+$",
                                  error="letters, digits, '_', '.' and '-' only")],
    )
    topic_prefix = fields.String(
        load_default="frigate",
        validate=[validate.Length(min=1, max=100),
                  validate.Regexp(r"^[^#+\s]+$", error="no '#', '+' or spaces")],
    )
    keepalive_seconds = fields.Integer(load_default=60, validate=validate.Range(5, 3600))
    #: How long the broker keeps the session (subscription and queued QoS 1 messages)
    #: while the worker is away (MQTT v5 session expiry).
    session_expiry_seconds = fields.Integer(load_default=86400,
                                            validate=validate.Range(0, 7 * 86400))
    reconnect_min_seconds = fields.Integer(load_default=1, validate=validate.Range(1, 600))
    reconnect_max_seconds = fields.Integer(load_default=60, validate=validate.Range(1, 3600))
    #: The account the incidents are ingested as: like an analytics token's owner, it
    #: must hold surveillance.incident.ingest, and its places bound the cameras.
    account = fields.String(load_default="", validate=validate.Length(max=150))
    #: Which Frigate topics to read: "events" (each tracked object) and/or "reviews"
    #: (Frigate 0.14+ review items). Both make two incidents for one activity.
    messages = fields.List(fields.String(validate=validate.OneOf(MESSAGE_KINDS)),
                           load_default=lambda: ["events"], validate=validate.Length(min=1))
    #: Review items of these severities are ingested; the others are counted as ignored.
    review_severities = fields.List(
        fields.String(validate=validate.OneOf(REVIEW_SEVERITIES)),
        load_default=lambda: ["alert"],
    )
    #: Frigate camera name → surveillance camera code.
    cameras = fields.Dict(keys=fields.String(validate=_NAME),
                          values=fields.String(validate=validate.Length(min=1, max=40)),
                          load_default=dict)
    #: Frigate cameras deliberately not mapped: ignored (counted), not reported.
    ignored_cameras = fields.List(fields.String(validate=_NAME), load_default=list)
    rules = fields.List(fields.Nested(FrigateRule), load_default=lambda: [
        dict(rule) for rule in DEFAULT_RULES
    ])

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("password") and not data.get("username"):
            raise ValidationError("a password needs a username", "password")
        if data.get("tls_ca_file") and not data.get("tls"):
            raise ValidationError("set tls = true to use a CA file", "tls_ca_file")
        low, high = data.get("reconnect_min_seconds", 1), data.get("reconnect_max_seconds", 60)
        if low > high:
            raise ValidationError("must not be above reconnect_max_seconds",
                                  "reconnect_min_seconds")
        both = set(data.get("cameras", {})) & set(data.get("ignored_cameras", []))
        if both:
            raise ValidationError(
                f"{', '.join(sorted(both))} both mapped and ignored", "ignored_cameras")


def default_frigate() -> dict[str, Any]:
    """The settings when ``[plugins.surveillance.frigate]`` is absent."""
    return FrigateConfig().load({})
