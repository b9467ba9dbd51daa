"""Who may call each surveillance endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py).

The matrix's security officer has no place scope, so objects answer 404 for them as for
anyone outside their places; ids below belong to nobody."""

from core.testing_matrix import LOGIN, PUBLIC, E, ok, only

SECURITY = only("security_officer", "admin")
ADMIN = only("admin")
FOOTAGE_LOG = only("auditor", "admin")
RETENTION = only("security_officer", "auditor", "admin")

MATRIX = {
    # ---------------------------------------------------------------- public pages
    ("surveillance.index", "GET"): E(PUBLIC),
    ("surveillance.where", "GET"): E(PUBLIC),
    # ---------------------------------------------------------------- residents
    ("surveillance.report", "GET"): E(LOGIN),
    ("surveillance.report", "POST"): E(LOGIN, ok(400)),  # blank form
    ("surveillance.my_reports", "GET"): E(LOGIN),
    ("surveillance.my_report", "GET"): E(LOGIN, ok(404), denied=404),  # not yours
    # ---------------------------------------------------------------- staff pages
    ("surveillance.desk", "GET"): E(SECURITY),
    ("surveillance.cameras", "GET"): E(SECURITY),
    ("surveillance.camera_new", "GET"): E(SECURITY),
    ("surveillance.camera_new", "POST"): E(SECURITY, ok(400)),
    ("surveillance.camera", "GET"): E(SECURITY, ok(404)),
    ("surveillance.camera_status", "POST"): E(SECURITY, ok(404)),
    ("surveillance.incidents", "GET"): E(SECURITY),
    ("surveillance.incident_new", "GET"): E(SECURITY),
    ("surveillance.incident_new", "POST"): E(SECURITY, ok(400)),
    ("surveillance.incident", "GET"): E(SECURITY, ok(404)),
    ("surveillance.incident_action", "POST"): E(SECURITY, ok(404)),
    ("surveillance.incident_photo", "GET"): E(SECURITY, ok(404)),
    ("surveillance.clip_new", "POST"): E(SECURITY, ok(404)),
    ("surveillance.clip_open", "POST"): E(SECURITY, ok(404)),
    ("surveillance.alerts", "GET"): E(SECURITY),
    ("surveillance.alert_action", "POST"): E(SECURITY, ok(404)),
    ("surveillance.rules", "GET"): E(ADMIN),
    ("surveillance.rules", "POST"): E(ADMIN, ok(400)),
    ("surveillance.rule_toggle", "POST"): E(ADMIN, ok(404)),
    ("surveillance.footage_requests", "GET"): E(SECURITY),
    ("surveillance.footage_decision", "POST"): E(SECURITY, ok(404)),
    ("surveillance.footage_log", "GET"): E(FOOTAGE_LOG),
    ("surveillance.retention", "GET"): E(RETENTION),
    # ---------------------------------------------------------------- API
    ("surveillance_api.Cameras", "GET"): E(SECURITY),
    ("surveillance_api.Cameras", "POST"): E(SECURITY, ok(422)),
    ("surveillance_api.PublicCameras", "GET"): E(PUBLIC),
    ("surveillance_api.Heartbeat", "POST"): E(SECURITY, ok(404)),
    ("surveillance_api.Incidents", "GET"): E(SECURITY),
    ("surveillance_api.Incidents", "POST"): E(SECURITY, ok(422)),
    ("surveillance_api.IncidentItem", "GET"): E(SECURITY, ok(404)),
    ("surveillance_api.IncidentTransition", "POST"): E(SECURITY, ok(422)),
    ("surveillance_api.Ingest", "POST"): E(SECURITY, ok(422)),  # no Idempotency-Key
    ("surveillance_api.Reports", "GET"): E(LOGIN),
    ("surveillance_api.Reports", "POST"): E(LOGIN, ok(422)),
    ("surveillance_api.ReportItem", "GET"): E(LOGIN, ok(404), denied=404),
    ("surveillance_api.Alerts", "GET"): E(SECURITY),
    ("surveillance_api.AlertAction", "POST"): E(SECURITY, ok(422)),
    ("surveillance_api.ClipOpen", "POST"): E(SECURITY, ok(422)),
    ("surveillance_api.FootageLog", "GET"): E(FOOTAGE_LOG),
    ("surveillance_api.FootageRequests", "GET"): E(SECURITY),
    ("surveillance_api.FootageDecision", "POST"): E(SECURITY, ok(422)),
    # what the staff pages had alone (api_admin.py)
    ("surveillance_api.Rules", "GET"): E(ADMIN),
    ("surveillance_api.Rules", "POST"): E(ADMIN, ok(422)),  # {}: name and kind required
    ("surveillance_api.RuleItem", "GET"): E(ADMIN, ok(404)),
    ("surveillance_api.RuleItem", "PATCH"): E(ADMIN, ok(404)),  # {} is valid: no such rule
    ("surveillance_api.IncidentClips", "GET"): E(SECURITY, ok(404)),
    ("surveillance_api.IncidentClips", "POST"): E(SECURITY, ok(422)),
    ("surveillance_api.Retention", "GET"): E(RETENTION),
    ("surveillance_api.CameraItem", "GET"): E(SECURITY, ok(404)),
    ("surveillance_api.CameraStatus", "POST"): E(SECURITY, ok(422)),
    ("surveillance_api.IncidentPhoto", "GET"): E(SECURITY, ok(404)),
    ("surveillance_api.Desk", "GET"): E(SECURITY),
}

PUBLIC_VIEWS = {
    "surveillance.index": "the plugin's public start page and safety notices",
    "surveillance.where": "PIPL Art. 26 transparency: where cameras are and what for",
    "surveillance_api.PublicCameras": "PIPL Art. 26 transparency: where cameras are and what for",
}

SAMPLE_VALUES: dict[str, object] = {
    "incident_id": 999999,
    "camera_id": 999999,
    "camera_code": "NOBODYS-CAMERA",
    "alert_id": 999999,
    "clip_id": 999999,
    "rule_id": 999999,
    "request_id": 999999,
}
