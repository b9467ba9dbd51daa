"""The plugin's periodic job (``register_jobs``), run by ``shequ worker`` and by
``shequ commerce redispatch`` on demand."""

from __future__ import annotations

from typing import Any


def redispatch(app: Any) -> str:
    """Offer tickets whose merchant did not accept in time to the next merchant. Safe to
    repeat: each offer moves on only from the state it was read in."""
    from plugins.commerce.services import redispatch_expired

    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        n = redispatch_expired(session, kernel.bus, settings=kernel.plugins.settings("commerce"))
    return f"{n} ticket(s) re-dispatched"
