"""Fixtures for the self_governance tests; they and the helpers live in
self_governance_kit.py (test helper modules are named ``<suite>_kit``: every test
directory's ``conftest`` shares one module name, so tests must never import from
``conftest``)."""

from self_governance_kit import app, world  # noqa: F401 - fixtures
