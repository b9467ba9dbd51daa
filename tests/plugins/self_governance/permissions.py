"""Who may call each self_governance endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py)."""

from core.testing_matrix import PUBLIC, E

MATRIX = {
    ("self_governance.index", "GET"): E(PUBLIC),
}

PUBLIC_VIEWS = {
    "self_governance.index": "the plugin's public start page",
}

SAMPLE_VALUES: dict[str, object] = {}
