"""The plugin's jobs; the CLI runs the same (``shequ matters escalate``)."""

from __future__ import annotations

from typing import Any

from core.toolkit import current_kernel, plugin_settings


def escalate(app: Any) -> str:
    """Escalate overdue matters to the supervisors (once per clock)."""
    from plugins.matters.services import escalate_overdue

    kernel = current_kernel()
    with kernel.db.session_scope() as session:
        n = escalate_overdue(session, kernel.bus)
    return f"{n} matter(s) escalated"


def erase_caller_data(app: Any) -> str:
    """Erase unregistered callers' details after the retention period."""
    from plugins.matters.services import erase_caller_data as erase

    kernel = current_kernel()
    with kernel.db.session_scope() as session:
        n = erase(session, settings=plugin_settings("matters"))
    return f"caller data erased from {n} matter(s)"
