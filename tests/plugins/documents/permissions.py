"""Who may call each documents endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py).

Default grants (plugins/documents/__init__.py): every signed-in account sees its own
documents (none for the matrix's unverified accounts); staff see an application's
documents with gov_services' read permission within their places (the matrix's staff have
no places: 404); community workers (and street officers, not in the matrix) revoke.
Verification is public. The sample code belongs to no document (404 / "unknown")."""

from core.testing_matrix import LOGIN, PUBLIC, E, ok, only

GOV_READERS = only("community_worker", "committee_member", "auditor", "admin")
REVOKERS = only("community_worker", "admin")

MATRIX = {
    # pages
    ("documents.mine", "GET"): E(LOGIN),
    ("documents.document", "GET"): E(LOGIN, ok(404), denied=404),
    ("documents.download", "GET"): E(LOGIN, ok(404), denied=404),
    ("documents.revoke", "POST"): E(REVOKERS, ok(404)),
    ("documents.application", "GET"): E(GOV_READERS, ok(404)),
    # verification is rate limited per address: the matrix's many calls may meet it (429)
    ("documents.verify", "GET"): E(PUBLIC, ok(200, 429)),  # the page says "unknown"
    # a name check: refused by CSRF (400) or the limit (429); the page says "unknown"
    ("documents.verify", "POST"): E(PUBLIC, ok(200, 400, 429)),
    ("documents.verify_form", "GET"): E(PUBLIC),
    ("documents.verify_form", "POST"): E(PUBLIC, ok(400)),  # blank form: refused before the limit
    # API
    ("documents_api.Mine", "GET"): E(LOGIN),
    ("documents_api.ByApplication", "GET"): E(GOV_READERS, ok(404)),
    ("documents_api.Key", "GET"): E(PUBLIC),
    ("documents_api.Keys", "GET"): E(PUBLIC),
    ("documents_api.VerifyCode", "GET"): E(PUBLIC, ok(200, 429)),
    ("documents_api.VerifyStatement", "POST"): E(PUBLIC, ok(409, 422, 429)),  # empty body
    ("documents_api.One", "GET"): E(LOGIN, ok(404), denied=404),
    ("documents_api.Pdf", "GET"): E(LOGIN, ok(404), denied=404),
    ("documents_api.Revoke", "POST"): E(REVOKERS, ok(404, 422)),
}

PUBLIC_VIEWS = {
    "documents.verify": "the page a document's QR code opens: anyone checks a document",
    "documents.verify_form": "anyone checks a document by code, statement or PDF",
    "documents_api.VerifyCode": "the verification by code (public, rate limited)",
    "documents_api.VerifyStatement": "the verification of a statement (public, rate limited)",
    "documents_api.Key": "the public key the documents are signed with",
    "documents_api.Keys": "every public verification key, current and retired",
}

SAMPLE_VALUES: dict[str, object] = {
    "doc_code": "00000000DEADBEEF",
    "doc_application_id": 999999,
}
