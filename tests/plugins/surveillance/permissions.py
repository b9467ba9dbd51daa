"""Who may call each surveillance endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py)."""

from core.testing_matrix import PUBLIC, E

MATRIX = {
    ("surveillance.index", "GET"): E(PUBLIC),
}

PUBLIC_VIEWS = {
    "surveillance.index": "the plugin's public start page",
}

SAMPLE_VALUES: dict[str, object] = {}
