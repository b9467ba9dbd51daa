"""The reliability suite's hooks and fixtures; they and the helpers the tests use live in
reliability_kit.py (every test directory's ``conftest`` shares one module name, so tests
import from ``reliability_kit``, never from ``conftest``)."""

from reliability_kit import (  # noqa: F401 - hooks and fixtures
    deployment,
    pytest_collection_modifyitems,
    pytest_sessionfinish,
    services,
)
