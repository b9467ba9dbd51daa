"""The reliability suite's hooks and fixtures; they and the helpers the tests use live in
rel_harness.py (every test directory's ``conftest`` shares one module name, so tests
import from ``rel_harness``, never from ``conftest``)."""

from rel_harness import (  # noqa: F401 - hooks and fixtures
    deployment,
    pytest_collection_modifyitems,
    pytest_sessionfinish,
    services,
)
