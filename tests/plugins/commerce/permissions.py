"""Who may call each commerce endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py)."""

from core.testing_matrix import PUBLIC, E

MATRIX = {
    ("commerce.index", "GET"): E(PUBLIC),
}

PUBLIC_VIEWS = {
    "commerce.index": "the plugin's public start page",
}

SAMPLE_VALUES: dict[str, object] = {}
