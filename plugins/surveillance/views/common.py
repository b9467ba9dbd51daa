"""What every page module shares: the blueprint, the label tables (one translated word
per stored code, offered to templates as ``sv``), and the helpers that turn a service's
:class:`~plugins.surveillance.services.SurveillanceError` into a 404 or a field message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, g
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from core.toolkit import (
    current_kernel,
    current_session,
    has_permission,
    localized,
    plugin_settings,
    registry_reader,
)
from plugins.surveillance import info
from plugins.surveillance import services as svc

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) pairs
    SelectChoice = None

#: The plugin's pages. ``root_path`` is the plugin's package, where ``templates/`` is: the
#: blueprint is defined one level down, in this package.
bp = Blueprint(
    "surveillance",
    __name__,
    root_path=str(Path(__file__).resolve().parent.parent),
    template_folder="templates",
)


def _choices(pairs: Any) -> list[Any]:
    """Select options for this WTForms version (3.3 deprecates plain pairs)."""
    return [SelectChoice(v, lbl) if SelectChoice else (v, lbl) for v, lbl in pairs]


KIND_LABELS = {
    "fire_hazard": _l("Fire hazard"),
    "fire_lane_blocked": _l("Blocked fire lane"),
    "theft": _l("Theft"),
    "fight": _l("Fight"),
    "elderly_fallen": _l("Elderly person fallen"),
    "flooding": _l("Flooding"),
    "suspicious_activity": _l("Suspicious activity"),
    "other": _l("Other"),
}
STATUS_LABELS = {
    "raised": _l("Raised"),
    "acknowledged": _l("Acknowledged"),
    "dispatched": _l("Dispatched"),
    "resolved": _l("Resolved"),
    "false_alarm": _l("False alarm"),
    "online": _l("Online"),
    "offline": _l("Offline"),
    "maintenance": _l("Maintenance"),
    "open": _l("Unresolved"),
    "escalated": _l("Escalated"),
}
STEP_LABELS = {
    **STATUS_LABELS,
    "clip_added": _l("Footage reference added"),
    "footage_view": _l("Footage viewed"),
    "footage_export": _l("Footage exported"),
    "footage_requested": _l("Footage requested (needs a second officer)"),
    "footage_request_approved": _l("Footage request approved"),
    "footage_request_refused": _l("Footage request refused"),
    "photo_purged": _l("Photo deleted (retention)"),
    "reporter_erased": _l("Reporter erased (retention)"),
}
REQUEST_LABELS = {
    "pending": _l("Waiting for a second officer"),
    "approved": _l("Approved"),
    "refused": _l("Refused"),
    "opened": _l("Opened"),
}
SOURCE_LABELS = {
    "staff": _l("by staff"),
    "resident": _l("by a resident"),
    "analytics": _l("by video analytics"),
    "grid": _l("by a grid worker"),
}
SEVERITY_LABELS = {
    "low": _l("Low"),
    "medium": _l("Medium"),
    "high": _l("High"),
    "critical": _l("Critical"),
}
PLACE_LABELS = {
    "entrance": _l("Entrance"),
    "road": _l("Road"),
    "square": _l("Public square"),
    "parking": _l("Parking"),
    "lobby": _l("Lobby"),
    "playground": _l("Playground"),
    "riverside": _l("Riverside"),
    "other": _l("Other place"),
}
RULE_LABELS = {
    "burst": _l("Several incidents in an area"),
    "unacknowledged": _l("Incident not acknowledged in time"),
    "camera_offline": _l("Cameras offline in an area"),
}
ACTION_LABELS = {
    "acknowledge": _l("Acknowledge"),
    "dispatch": _l("Dispatch"),
    "resolve": _l("Resolve"),
    "false_alarm": _l("Mark as false alarm"),
}
STATUS_TAGS = {
    "raised": "tag-warn",
    "acknowledged": "tag-new",
    "dispatched": "tag-new",
    "resolved": "tag-ok",
    "false_alarm": "tag-off",
    "online": "tag-ok",
    "offline": "tag-failed",
    "maintenance": "tag-warn",
    "open": "tag-warn",
    "escalated": "tag-failed",
}


def _label(table: dict[str, Any], key: str | None) -> str:
    return str(table.get(key or "", key or "—"))


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {
        "sv": {
            "kind": lambda k: _label(KIND_LABELS, k),
            "status": lambda k: _label(STATUS_LABELS, k),
            "step": lambda k: _label(STEP_LABELS, k),
            "severity": lambda k: _label(SEVERITY_LABELS, k),
            "note": lambda step: (
                _label(SOURCE_LABELS, step.note) if step.action == "raised" else step.note
            ),
            "place": lambda k: _label(PLACE_LABELS, k),
            "rule": lambda k: _label(RULE_LABELS, k),
            "tag": lambda k: STATUS_TAGS.get(k, ""),
            "request": lambda k: _label(REQUEST_LABELS, k),
            "duration": lambda minutes: localized(*svc.duration(minutes)),
            "desk_nav": _desk_nav,
            "community": _community_name,
            "actor": lambda name: _("The system") if name == "system" else (name or ""),
        }
    }


def _community_name(code: str | None) -> str:
    """A community's name for its code (pages name places, not 12-digit codes); the code
    itself when the registry does not know it. Read once per request."""
    if not code:
        return "—"
    names = g.get("_surveillance_community_names")
    if names is None:
        names = g._surveillance_community_names = dict(_communities())
    return str(names.get(code, code))


#: The desk's tabs: (endpoint, label, the permission that endpoint's view requires).
DESK_NAV = (
    ("surveillance.desk", _l("Desk"), "surveillance.incident.read"),
    ("surveillance.incidents", _l("Incident queue"), "surveillance.incident.read"),
    ("surveillance.alerts", _l("Alert list"), "surveillance.incident.read"),
    ("surveillance.cameras", _l("Cameras"), "surveillance.camera.read"),
    ("surveillance.rules", _l("Alert rules"), "surveillance.rule.manage"),
    ("surveillance.footage_requests", _l("Footage requests"), "surveillance.footage.view"),
    ("surveillance.footage_log", _l("Footage log"), "surveillance.footage.log_read"),
    ("surveillance.retention", _l("Retention"), "surveillance.retention.read"),
)


def _desk_nav() -> list[tuple[str, str]]:
    """The tabs this viewer may open: a tab is shown only with the permission its page
    checks, so no tab answers 403 (the security officer has neither the rule editor nor
    the footage-access log, which are the administrator's and the auditor's)."""
    return [(endpoint, str(label)) for endpoint, label, perm in DESK_NAV
            if has_permission(current_user, perm)]


def settings() -> dict[str, Any]:
    return plugin_settings(info.id)


def bus() -> Any:
    return current_kernel().bus


def media() -> Any:
    return svc.media_dir(current_app.instance_path, settings()["media_dir"])


def _communities() -> list[tuple[str, str]]:
    reader = registry_reader(current_session(), info.id, actor=None, purpose="place list")
    return [(c["code"], c["name"]) for c in reader.communities()]


def _or_404(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except svc.SurveillanceError as exc:
        if exc.status == 404:
            abort(404)
        raise


def _errors(form: FlaskForm) -> list[tuple[str, str]]:
    return [(name, str(e)) for name, errs in form.errors.items() for e in errs]


def _message(exc: svc.SurveillanceError) -> str:
    """The error in the reader's language, a state named by its label."""
    params = dict(exc.params)
    if "state" in params:
        params["state"] = _label(STATUS_LABELS, params["state"])
    return _(exc.message, **params)


def _field_error(form: FlaskForm, exc: svc.SurveillanceError) -> None:
    text = _message(exc)
    field = getattr(form, exc.field, None)
    if field is not None and hasattr(field, "errors"):
        if isinstance(field.errors, tuple):
            field.errors = list(field.errors)
        field.errors.append(text)
    else:
        form.form_errors.append(text)
