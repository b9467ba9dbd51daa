"""The module-scoped ``sv`` fixture for the safety plugin's tests (helpers and fixture in
``surveillance_kit``, a uniquely named module, so importing them never picks up
another directory's conftest)."""

from surveillance_kit import sv  # noqa: F401 - a fixture, found by name
