"""Who may call each gov_services endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py)."""

from core.testing_matrix import PUBLIC, E

MATRIX = {
    ("gov_services.index", "GET"): E(PUBLIC),
}

PUBLIC_VIEWS = {
    "gov_services.index": "the plugin's public start page",
}

SAMPLE_VALUES: dict[str, object] = {}
