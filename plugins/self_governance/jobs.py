"""The plugin's periodic job (``register_jobs``), run by ``shequ worker`` and on demand
by ``shequ self-governance close-due``: votes are counted and proposals expire on time
even when nobody opens their pages."""

from __future__ import annotations

from typing import Any


def close_due(app: Any) -> str:
    """Count every vote past its close and expire proposals past their deadline."""
    from plugins.self_governance import services as sv

    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as session:
        closed = sv.close_due_votes(session, kernel, kernel.bus)
        expired = sv.expire_proposals(session)
    return f"votes counted: {len(closed)}; proposals expired: {expired}"
