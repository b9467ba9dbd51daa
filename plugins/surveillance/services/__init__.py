"""The rules of the safety plugin: plain functions over a session, no Flask.

They flush but never commit: the caller (a request, a command, an event handler, the demo
seeder) owns the transaction, so an event published here commits exactly when the change
that caused it does. Pages, the API, the CLI and the event handlers all call these.

Four privacy rules live here rather than in views, so no entry point can skip them:

* places: staff see cameras, incidents and alerts only in their communities and grids
  (:func:`place_filter`), the same scopes core's registry uses;
* footage: a clip reference is opened only for an open incident whose time of occurrence
  the clip covers (give or take ``footage_margin_minutes``) and a stated purpose; when the
  asker raised that incident themself a second officer must approve first; every attempt
  — granted, pending or refused — is logged (:func:`open_clip`, :func:`decide_request`);
* reporters: an incident keeps the reporter's account and person ids, never their name;
  :func:`reporter_view` names them masked (in full only to the officer sent to the scene)
  and writes each display to the reporter's access log;
* retention: clip references and incident photos older than the retention period are
  purged unless an open incident holds them, and closed resident reports lose their
  reporter link and words (:func:`purge`).

The rules are split by what they govern — :mod:`.places` (the error, ids, place scoping),
:mod:`.cameras`, :mod:`.incidents`, :mod:`.reporters` (a resident's data in an incident),
:mod:`.alerts`, :mod:`.early_warning`, :mod:`.footage`, :mod:`.retention` and
:mod:`.stats`; this package re-exports every name, so callers keep writing
``from plugins.surveillance import services as svc``.
"""

from __future__ import annotations

from core.toolkit import MAX_ID, N_
from plugins.surveillance.services.alerts import (
    ALERT_STATUS_CHOICES,
    alert_action,
    alerts_query,
    community_id_for,
    get_alert,
    public_notices,
    raise_alert,
)
from plugins.surveillance.services.cameras import (
    camera_by_code,
    cameras_query,
    create_camera,
    get_camera,
    heartbeat,
    public_cameras,
    set_camera_status,
)
from plugins.surveillance.services.early_warning import (
    KIND_LABELS,
    CheckResult,
    check,
    create_rule,
    duration,
    evaluate_burst,
    on_incident_raised,
    set_rule_active,
    update_rule,
)
from plugins.surveillance.services.footage import (
    add_clip,
    clip_covers,
    decide_request,
    footage_log_query,
    footage_requests_query,
    get_request,
    open_clip,
    raised_by,
)
from plugins.surveillance.services.incidents import (
    ASSIGNABLE_ROLES,
    TRANSITIONS,
    assignable_staff,
    get_incident,
    incidents_query,
    ingest_incident,
    own_report,
    own_reports,
    raise_incident,
    staff_name,
    transition,
)
from plugins.surveillance.services.places import (
    PLUGIN,
    SurveillanceError,
    actor_name,
    get_row,
    in_place,
    place_filter,
    place_scope,
)
from plugins.surveillance.services.reporters import (
    PHOTO_TYPES,
    Reporter,
    log_photo_view,
    media_dir,
    on_person_merged,
    photo_file,
    reporter_in_full,
    reporter_view,
    store_photo,
)
from plugins.surveillance.services.retention import (
    PURGE_INTERVAL_SECONDS,
    clip_schedule,
    held_counts,
    purge,
    purge_runs,
    retention_state,
)
from plugins.surveillance.services.stats import dashboard_numbers, local_zone

__all__ = [
    "ALERT_STATUS_CHOICES",
    "ASSIGNABLE_ROLES",
    "KIND_LABELS",
    "MAX_ID",
    "N_",
    "PHOTO_TYPES",
    "PLUGIN",
    "PURGE_INTERVAL_SECONDS",
    "TRANSITIONS",
    "CheckResult",
    "Reporter",
    "SurveillanceError",
    "actor_name",
    "add_clip",
    "alert_action",
    "alerts_query",
    "assignable_staff",
    "camera_by_code",
    "cameras_query",
    "check",
    "clip_covers",
    "clip_schedule",
    "community_id_for",
    "create_camera",
    "create_rule",
    "dashboard_numbers",
    "decide_request",
    "duration",
    "evaluate_burst",
    "footage_log_query",
    "footage_requests_query",
    "get_alert",
    "get_camera",
    "get_incident",
    "get_request",
    "get_row",
    "heartbeat",
    "held_counts",
    "in_place",
    "incidents_query",
    "ingest_incident",
    "local_zone",
    "log_photo_view",
    "media_dir",
    "on_incident_raised",
    "on_person_merged",
    "open_clip",
    "own_report",
    "own_reports",
    "photo_file",
    "place_filter",
    "place_scope",
    "public_cameras",
    "public_notices",
    "purge",
    "purge_runs",
    "raise_alert",
    "raise_incident",
    "raised_by",
    "reporter_in_full",
    "reporter_view",
    "retention_state",
    "set_camera_status",
    "set_rule_active",
    "staff_name",
    "store_photo",
    "transition",
    "update_rule",
]
