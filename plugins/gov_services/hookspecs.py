"""The hook gov_services declares for other plugins (``PluginInfo.hookspecs``).

Core adds these specs before any plugin registers, so a plugin that implements
``gov_services_service_types`` needs nothing from gov_services' code: it returns plain
dicts in the catalogue's format (see docs/plugins/gov_services.md and
``plugins/gov_services/data/services.json``).
"""

from __future__ import annotations

from typing import Any

from core.hookspecs import hookspec


@hookspec
def gov_services_service_types() -> list[dict[str, Any]]:
    """Return extra service types, each a dict in the catalogue's format: ``code`` (unique,
    ``[a-z][a-z0-9_]*``), ``name_zh``, ``name_en``, ``department``, ``database``,
    ``fields``, ``documents``, ``eligibility``, ``workflow`` and ``time_limits``. A code
    that clashes with the built-in catalogue or another plugin stops start-up."""
