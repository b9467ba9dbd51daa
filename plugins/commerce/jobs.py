"""The plugin's periodic jobs (``register_jobs``), run by ``shequ worker`` and on demand by
``shequ commerce redispatch`` / ``shequ commerce erase-caller-data``."""

from __future__ import annotations

from typing import Any

from core.toolkit import current_kernel, plugin_settings


def redispatch(app: Any) -> str:
    """Offer tickets whose merchant did not accept in time to the next merchant. Safe to
    repeat: each offer moves on only from the state it was read in."""
    from plugins.commerce.services import redispatch_expired

    kernel = current_kernel()  # jobs run inside the app context
    with kernel.db.session_scope() as session:
        n = redispatch_expired(session, kernel.bus, settings=plugin_settings("commerce"))
    return f"{n} ticket(s) re-dispatched"


def erase_caller_data(app: Any) -> str:
    """Erase callers' own copies (phone, address, name of an unregistered caller) from
    tickets closed longer ago than ``caller_data_retention_days``. Idempotent."""
    from plugins.commerce.services import erase_caller_data as erase

    kernel = current_kernel()  # jobs run inside the app context
    with kernel.db.session_scope() as session:
        n = erase(session, settings=plugin_settings("commerce"))
    return f"caller data erased from {n} ticket(s)"
