"""Who may call each grid endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py).

Default grants (plugins/grid/__init__.py): grid workers (role ``grid_worker``, not one of
the matrix's roles) and community workers visit and patrol; community workers and street
officers see coverage; admins hold everything. The matrix's accounts have no place
assignment, so object pages answer 404 and lists are empty."""

from core.testing_matrix import E, ok, only

WORK = only("community_worker", "admin")
SUPERVISE = only("community_worker", "admin")  # street_officer too, not a matrix role

MATRIX = {
    # ------------------------------------------------------------------ pages
    ("grid.index", "GET"): E(WORK),
    ("grid.person", "GET"): E(WORK, ok(404)),
    ("grid.person", "POST"): E(WORK, ok(404)),
    ("grid.visit", "GET"): E(WORK, ok(404)),
    ("grid.visit", "POST"): E(WORK, ok(404)),
    ("grid.correct_visit_page", "GET"): E(WORK, ok(404)),
    ("grid.correct_visit_page", "POST"): E(WORK, ok(404)),
    ("grid.correct_patrol_page", "GET"): E(WORK, ok(404)),
    ("grid.correct_patrol_page", "POST"): E(WORK, ok(404)),
    ("grid.finding", "GET"): E(WORK, ok(404)),
    ("grid.patrols", "GET"): E(WORK),
    ("grid.patrols", "POST"): E(WORK, ok(400)),  # blank form
    ("grid.coverage", "GET"): E(SUPERVISE),
    # ------------------------------------------------------------------ API
    ("grid_api.Tasks", "GET"): E(WORK),
    ("grid_api.Visits", "GET"): E(WORK),
    ("grid_api.Visits", "POST"): E(WORK, ok(422)),
    ("grid_api.VisitById", "GET"): E(WORK, ok(404)),
    ("grid_api.VisitById", "PATCH"): E(WORK, ok(404, 422)),
    ("grid_api.Households", "GET"): E(WORK),
    ("grid_api.Patrols", "GET"): E(WORK),
    ("grid_api.Patrols", "POST"): E(WORK, ok(422)),
    ("grid_api.PatrolById", "GET"): E(WORK, ok(404)),
    ("grid_api.PatrolById", "PATCH"): E(WORK, ok(404, 422)),
    ("grid_api.Findings", "POST"): E(WORK, ok(422)),
    ("grid_api.FindingById", "GET"): E(WORK, ok(404)),
    ("grid_api.Coverage", "GET"): E(SUPERVISE),
}

PUBLIC_VIEWS: dict[str, str] = {}

SAMPLE_VALUES: dict[str, object] = {"person_id": 999999, "visit_id": 999999, "patrol_id": 999999,
                                    "finding_id": 999999}
