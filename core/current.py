"""The one accessor for the running app's kernel, usable from every layer of core.

``current_app.extensions["shequ"]`` spelled out in each module tied every caller to the key
and hid what it was reaching for; :func:`current_kernel` names it. It lives in the
foundation layer (it imports no other core module), so services, views and the CLI use the
same function the plugins get from ``core.toolkit``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

#: Where ``create_app`` keeps the kernel among the app's extensions.
EXTENSION = "shequ"


def current_kernel() -> Any:
    """The :class:`core.app.Kernel` of the current app: ``config``, ``db`` (with
    ``session_scope()``), ``plugins`` (the host: ``settings(id)``, ``info(id)``), ``bus``,
    ``permissions``, ``roles``, ``jobs``, ``hasher``, and ``state(plugin_id)`` for a
    plugin's own per-app objects (never module globals: tests build many apps in one
    process)."""
    return current_app.extensions[EXTENSION]


def kernel_of(app: Flask) -> Any:
    """The kernel of ``app`` outside its context (CLI set-up, tests, the server)."""
    return app.extensions[EXTENSION]

