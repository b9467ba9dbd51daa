"""Pages, mounted by core at ``/surveillance``. Thin: the rules are in ``services``.

Three audiences, three sets of pages:

* anyone: the start page with public safety notices, and where the cameras are and what
  each is for (PIPL Art. 26 transparency; no stream, no officer);
* a signed-in resident: report a safety concern (with a photo), and the status of their
  own reports (anyone else's is 404);
* security staff: the desk (dashboard), cameras, incidents, alerts, rules, footage
  requests (a second officer's approval), footage log, retention report — scoped to their
  communities and grids by the services.

One module per part of the site, all on the one blueprint :data:`bp` of :mod:`.common`
(with the label tables and shared helpers): :mod:`.public` (anyone, residents),
:mod:`.incident_desk` (the desk and incidents), :mod:`.inventory` (cameras), :mod:`.footage`
(clips, requests, footage log, retention) and :mod:`.alerting` (alerts and rules).
Importing this package registers every route; it re-exports every name, so the plugin
mounts ``plugins.surveillance.views.bp`` as before.
"""

from __future__ import annotations

from plugins.surveillance.views.alerting import (
    AlertActionForm,
    RuleForm,
    alert_action,
    alerts,
    rule_toggle,
    rules,
)
from plugins.surveillance.views.common import (
    ACTION_LABELS,
    KIND_LABELS,
    PLACE_LABELS,
    REQUEST_LABELS,
    RULE_LABELS,
    SEVERITY_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    STATUS_TAGS,
    STEP_LABELS,
    bp,
    bus,
    media,
    settings,
)
from plugins.surveillance.views.footage import (
    DecisionForm,
    clip_open,
    footage_decision,
    footage_log,
    footage_requests,
    retention,
)
from plugins.surveillance.views.incident_desk import (
    ActionForm,
    ClipForm,
    FootageForm,
    IncidentForm,
    clip_new,
    desk,
    incident,
    incident_action,
    incident_new,
    incident_photo,
    incidents,
)
from plugins.surveillance.views.inventory import (
    CameraForm,
    StatusForm,
    camera,
    camera_new,
    camera_status,
    cameras,
)
from plugins.surveillance.views.public import (
    ReportForm,
    index,
    my_report,
    my_reports,
    report,
    where,
)

__all__ = [
    "ACTION_LABELS",
    "KIND_LABELS",
    "PLACE_LABELS",
    "REQUEST_LABELS",
    "RULE_LABELS",
    "SEVERITY_LABELS",
    "SOURCE_LABELS",
    "STATUS_LABELS",
    "STATUS_TAGS",
    "STEP_LABELS",
    "ActionForm",
    "AlertActionForm",
    "CameraForm",
    "ClipForm",
    "DecisionForm",
    "FootageForm",
    "IncidentForm",
    "ReportForm",
    "RuleForm",
    "StatusForm",
    "alert_action",
    "alerts",
    "bp",
    "bus",
    "camera",
    "camera_new",
    "camera_status",
    "cameras",
    "clip_new",
    "clip_open",
    "desk",
    "footage_decision",
    "footage_log",
    "footage_requests",
    "incident",
    "incident_action",
    "incident_new",
    "incident_photo",
    "incidents",
    "index",
    "media",
    "my_report",
    "my_reports",
    "report",
    "retention",
    "rule_toggle",
    "rules",
    "settings",
    "where",
]
