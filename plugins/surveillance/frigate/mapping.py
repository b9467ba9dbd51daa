"""Frigate's MQTT messages → what the analytics ingest takes, as pure functions.

Frigate publishes every change of a tracked object on ``<prefix>/events`` (``type`` new,
update or end, with ``before`` and ``after`` states carrying ``id``, ``camera``,
``label``, ``sub_label``, ``top_score``, ``false_positive``, ``start_time``,
``current_zones``, ``entered_zones``…) and, from 0.14, review items on
``<prefix>/reviews`` (``after``: ``id``, ``camera``, ``severity`` alert/detection,
``start_time``, ``data`` with ``objects`` and ``zones``). One Frigate id is one
detection however many messages carry it, so the id is the idempotency key and every
field sent to the ingest is one that does not change between a new and an end message
(the start time, not the score; the rule's zone, not the zones of the moment).

Nothing here touches the database: :func:`parse` answers a :class:`Detection` to ingest
or a :class:`Skip` saying why not, which the worker counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

#: Reasons a message is not ingested (the worker's counters are keyed by them).
NOT_JSON = "not_json"
OTHER_TOPIC = "other_topic"
MALFORMED = "malformed"
FALSE_POSITIVE = "false_positive"
UNMAPPED = "unmapped"
IGNORED_CAMERA = "ignored_camera"
REVIEW_SEVERITY = "review_severity"
UNKNOWN_CAMERA = "unknown_camera"


@dataclass(frozen=True)
class Detection:
    """One Frigate event or review item as the analytics ingest takes it."""

    key: str  # the Idempotency-Key: "frigate-event:<id>" or "frigate-review:<id>"
    frigate_camera: str
    camera_code: str
    kind: str
    severity: str
    description: str
    occurred_at: datetime | None


@dataclass(frozen=True)
class Skip:
    """A message that makes no incident: ``reason`` is one of the constants above;
    ``camera`` is the Frigate camera name when one was read (unknown-camera problems)."""

    reason: str
    camera: str = ""


def topics(settings: dict[str, Any]) -> list[str]:
    """The topics to subscribe to, e.g. ``["frigate/events"]``."""
    return [f"{settings['topic_prefix']}/{kind}" for kind in settings["messages"]]


def parse(settings: dict[str, Any], topic: str, payload: bytes) -> Detection | Skip:
    """Decide what a message on ``topic`` means under ``settings`` (the loaded
    ``[plugins.surveillance.frigate]``)."""
    prefix = settings["topic_prefix"]
    kind = topic[len(prefix) + 1:] if topic.startswith(prefix + "/") else ""
    if kind not in settings["messages"]:
        return Skip(OTHER_TOPIC)
    try:
        message = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return Skip(NOT_JSON)
    if not isinstance(message, dict) or message.get("type") not in ("new", "update", "end"):
        return Skip(MALFORMED)
    after = message.get("after")
    if not isinstance(after, dict):
        return Skip(MALFORMED)
    ident, camera = after.get("id"), after.get("camera")
    if not _name(ident, 80) or not _name(camera, 64):
        return Skip(MALFORMED)
    if camera in settings["ignored_cameras"]:
        return Skip(IGNORED_CAMERA, camera)
    code = settings["cameras"].get(camera)
    if code is None:
        return Skip(UNKNOWN_CAMERA, camera)
    if kind == "events":
        return _event(settings, after, ident, camera, code)
    return _review(settings, after, ident, camera, code)


def _event(settings: dict[str, Any], after: dict[str, Any], ident: str, camera: str,
           code: str) -> Detection | Skip:
    if after.get("false_positive") is True:
        return Skip(FALSE_POSITIVE, camera)
    label = after.get("label")
    if not _name(label, 64):
        return Skip(MALFORMED, camera)
    zones = _names(after.get("entered_zones")) | _names(after.get("current_zones")) | _names(
        after.get("zones"))
    score = max(_number(after.get("top_score")), _number(after.get("score")))
    match = _match(settings["rules"], {label}, zones, score)
    if match is None:
        return Skip(UNMAPPED, camera)
    rule, zone = match
    return Detection(
        key=f"frigate-event:{ident}",
        frigate_camera=camera,
        camera_code=code,
        kind=rule["kind"],
        severity=rule["severity"],
        description=_describe(label, camera, zone, f"event {ident}"),
        occurred_at=_when(after.get("start_time")),
    )


def _review(settings: dict[str, Any], after: dict[str, Any], ident: str, camera: str,
            code: str) -> Detection | Skip:
    if after.get("severity") not in settings["review_severities"]:
        return Skip(REVIEW_SEVERITY, camera)
    data = after.get("data")
    if not isinstance(data, dict):
        data = {}
    # Frigate 0.14 writes a sub-labelled object as "person-verified"
    labels = {label.removesuffix("-verified") for label in _names(data.get("objects"))}
    match = _match(settings["rules"], labels, _names(data.get("zones")), None)
    if match is None:
        return Skip(UNMAPPED, camera)
    rule, zone = match
    label = next(lb for lb in rule["labels"] if lb in labels)
    return Detection(
        key=f"frigate-review:{ident}",
        frigate_camera=camera,
        camera_code=code,
        kind=rule["kind"],
        severity=rule["severity"],
        description=_describe(label, camera, zone, f"review {ident}"),
        occurred_at=_when(after.get("start_time")),
    )


def _match(rules: list[dict[str, Any]], labels: set[str], zones: set[str],
           score: float | None) -> tuple[dict[str, Any], str] | None:
    """The first rule the labels, zones and score satisfy, with the zone that matched
    (the first of the rule's zones present, so it is the same in every message that
    matches the same rule)."""
    for rule in rules:
        if not labels & set(rule["labels"]):
            continue
        if score is not None and score < rule["min_score"]:
            continue
        if not rule["zones"]:
            return rule, ""
        zone = next((z for z in rule["zones"] if z in zones), None)
        if zone is not None:
            return rule, zone
    return None


def _describe(label: str, camera: str, zone: str, what: str) -> str:
    place = f"{camera}/{zone}" if zone else camera
    return f"Frigate: {label} @ {place} ({what})"[:500]


def _when(value: Any) -> datetime | None:
    """Frigate's times are seconds since the epoch (floats)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _name(value: Any, limit: int) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= limit and value.isprintable()


def _names(value: Any) -> set[str]:
    if not isinstance(value, list):
        return set()
    return {v for v in value if _name(v, 64)}


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)
