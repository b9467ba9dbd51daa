"""Fixtures for the self_governance tests; they and the helpers live in sg_testkit.py (a
module named for this suite: every test directory's ``conftest`` shares one module name,
so tests must never import from ``conftest``)."""

from sg_testkit import app, world  # noqa: F401 - fixtures
