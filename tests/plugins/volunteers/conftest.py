"""Fixtures for the volunteers tests; they live in volunteers_kit.py (every test
directory's ``conftest`` shares one module name, so tests never import from it)."""

from volunteers_kit import app, world  # noqa: F401 - fixtures
