"""Core's own API areas and their blueprints, by URL area (``/api/v1/<area>``).

The blueprints live with the module they serve: the ``identity`` area (the current
account, account and role administration, the audit and access logs, outbound messages)
is ``core.identity.api``.
"""

from __future__ import annotations

from flask_smorest import Blueprint


def blueprints() -> dict[str, list[Blueprint]]:
    """Core's API blueprints by URL area; several blueprints may share an area."""
    from core.exchange import api as exchange_api
    from core.identity import api as identity_api
    from core.identity import resident_api
    from core.registry import api as registry_api

    return {
        "identity": [*identity_api.blueprints(), resident_api.blueprint()],
        "registry": registry_api.blueprints(),
        "exchange": exchange_api.blueprints(),
        "notices": __import__("core.notices.api", fromlist=["api"]).blueprints(),
    }
