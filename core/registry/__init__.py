"""The resident registry: persons, households, dwellings, organisations, grids.

One source of truth that every plugin reads through ``core.registry.services`` within its
declared data scopes (``core.registry.scopes``). ``init_app`` declares the registry's
events; the app factory calls it (``registry.init_app(app, kernel)``) before the bus wires
plugins' handlers.
"""

from __future__ import annotations

from typing import Any


def init_app(app: Any, kernel: Any) -> None:
    """Declare the registry's events on the kernel's bus and register the registry's pages
    (``core.registry.views``, under ``/registry``); idempotent. The API blueprints are
    mounted by ``core.api.core_api`` (area ``registry``)."""
    from core.registry.events import declare_registry_events

    declare_registry_events(kernel.bus)
    if "registry" not in app.blueprints:
        from core.registry.views import bp

        app.register_blueprint(bp)
