"""Who may call each matters endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py).

Default grants (plugins/matters/__init__.py): residents file and rate their own matters;
hotline operators file callers' matters and record call-backs; community workers (and
the plugin's ``department_staff`` role, outside the matrix's vocabulary) sign, transfer
and answer their departments' matters; street officers supervise; auditors see the
statistics; admins hold everything. The matrix's accounts are members of no department
and own no matter, so object pages answer 404."""

from core.testing_matrix import E, ok, only

ANY = only("resident", "hotline_operator", "community_worker", "auditor", "admin")
OWN = only("resident", "admin")
FILE = only("hotline_operator", "admin")
HANDLE = only("community_worker", "admin")
STATS = only("auditor", "admin")
MANAGE = only("admin")

MATRIX = {
    # ------------------------------------------------------------------ pages
    ("matters.index", "GET"): E(ANY),
    ("matters.new", "GET"): E(OWN),
    ("matters.new", "POST"): E(OWN, ok(400)),  # blank form
    ("matters.matter", "GET"): E(ANY, ok(404)),
    ("matters.rate", "POST"): E(OWN, ok(404)),
    ("matters.console", "POST"): E(FILE, ok(400)),  # blank form
    ("matters.sign", "POST"): E(HANDLE, ok(404)),
    ("matters.transfer", "POST"): E(HANDLE, ok(404)),
    ("matters.answer", "POST"): E(HANDLE, ok(404)),
    ("matters.callback", "POST"): E(FILE, ok(404)),
    ("matters.stats", "GET"): E(STATS),
    ("matters.departments", "GET"): E(MANAGE),
    ("matters.departments", "POST"): E(MANAGE, ok(400)),  # blank form
    ("matters.department_new", "GET"): E(MANAGE),
    ("matters.department_new", "POST"): E(MANAGE, ok(400)),  # blank form
    ("matters.department_edit", "GET"): E(MANAGE, ok(404)),
    ("matters.department_edit", "POST"): E(MANAGE, ok(404)),
    ("matters.department_close", "POST"): E(MANAGE, ok(404)),
    ("matters.department_reopen", "POST"): E(MANAGE, ok(404)),
    ("matters.route_new", "GET"): E(MANAGE),
    ("matters.route_new", "POST"): E(MANAGE, ok(400)),  # blank form
    ("matters.route_edit", "GET"): E(MANAGE, ok(404)),
    ("matters.route_edit", "POST"): E(MANAGE, ok(404)),
    ("matters.route_delete", "POST"): E(MANAGE, ok(404)),
    # ------------------------------------------------------------------ API
    ("matters_api.Matters", "GET"): E(ANY),
    ("matters_api.Matters", "POST"): E(OWN, ok(422)),
    ("matters_api.Hotline", "POST"): E(FILE, ok(422)),
    ("matters_api.MatterItem", "GET"): E(ANY, ok(404)),
    ("matters_api.MatterSign", "POST"): E(HANDLE, ok(404)),
    ("matters_api.MatterTransfer", "POST"): E(HANDLE, ok(422)),
    ("matters_api.MatterAnswer", "POST"): E(HANDLE, ok(422)),
    ("matters_api.MatterRate", "POST"): E(OWN, ok(422)),
    ("matters_api.MatterCallback", "POST"): E(FILE, ok(422)),
    ("matters_api.Stats", "GET"): E(STATS),
    ("matters_api.Departments", "GET"): E(ANY),
    ("matters_api.Departments", "POST"): E(MANAGE, ok(422)),
    ("matters_api.DepartmentItem", "PATCH"): E(MANAGE, ok(404)),
    ("matters_api.Routes", "GET"): E(MANAGE),
    ("matters_api.Routes", "POST"): E(MANAGE, ok(422)),
    ("matters_api.RouteItem", "DELETE"): E(MANAGE, ok(404)),
    ("matters_api.DepartmentMembers", "GET"): E(MANAGE, ok(404)),
    ("matters_api.DepartmentMembers", "POST"): E(MANAGE, ok(422)),
    ("matters_api.DepartmentMember", "DELETE"): E(MANAGE, ok(404)),
}

PUBLIC_VIEWS: dict[str, str] = {}

SAMPLE_VALUES: dict[str, object] = {
    "matter_id": 999999,
    "department_code": "no-such-department",
    "member_user_id": 999999,
    "route_id": 999999,
}
