"""Who may call each volunteers endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py).

Reading activities: residents, staff who run them, auditors. Running them (create, edit,
cancel, roster, attendance, corrections): community workers and committee members within
their places (the sample ids name nothing, so they get 404). Signing up and one's own
record need a verified account (none of the matrix's accounts is: 403)."""

from core.testing_matrix import E, ok, only

READERS = only("resident", "community_worker", "committee_member", "auditor", "admin")
STAFF = only("community_worker", "committee_member", "admin")
VERIFIED = only()
MISSING = ok(404)

_P = "volunteers."
_A = "volunteers_api."

MATRIX = {
    (_P + "index", "GET"): E(READERS),
    (_P + "activity", "GET"): E(READERS, MISSING),
    (_P + "signup", "POST"): E(VERIFIED),
    (_P + "withdraw", "POST"): E(VERIFIED),
    (_P + "mine", "GET"): E(VERIFIED),
    (_P + "mine_print", "GET"): E(VERIFIED),
    (_P + "new", "GET"): E(STAFF),
    (_P + "new", "POST"): E(STAFF, ok(400)),
    (_P + "edit", "GET"): E(STAFF, MISSING),
    (_P + "edit", "POST"): E(STAFF, MISSING),
    (_P + "cancel", "POST"): E(STAFF, MISSING),
    (_P + "roster", "GET"): E(STAFF, MISSING),
    (_P + "check_in", "POST"): E(STAFF, MISSING),
    (_P + "correct", "POST"): E(STAFF, MISSING),
    # no community assigned to the matrix's staff: the summary says so; the CSV is 404
    (_P + "summary", "GET"): E(STAFF),
    (_P + "summary_csv", "GET"): E(STAFF, MISSING),
    # ---------------------------------------------------------------- API
    (_A + "Activities", "GET"): E(READERS),
    (_A + "Activities", "POST"): E(STAFF, ok(422)),
    (_A + "ActivityItem", "GET"): E(READERS, MISSING),
    (_A + "ActivityItem", "PATCH"): E(STAFF, MISSING),
    (_A + "ActivityCancel", "POST"): E(STAFF, ok(404, 422)),
    (_A + "ActivitySignup", "POST"): E(VERIFIED),
    (_A + "ActivitySignup", "DELETE"): E(VERIFIED),
    (_A + "ActivityRoster", "GET"): E(STAFF, MISSING),
    (_A + "ActivityAttendance", "POST"): E(STAFF, ok(404, 422)),
    (_A + "HoursCorrections", "POST"): E(STAFF, ok(404, 422)),
    (_A + "Mine", "GET"): E(VERIFIED),
    (_A + "Summary", "GET"): E(STAFF, ok(422)),
    (_A + "SummaryVolunteers", "GET"): E(STAFF, ok(422)),
}

PUBLIC_VIEWS: dict[str, str] = {}

SAMPLE_VALUES: dict[str, object] = {
    "activity_id": 986001,
    "signup_id": 986002,
    "entry_id": 986003,
}
