"""The plugin's periodic job (``register_jobs``), run by ``shequ worker`` and on demand
by ``shequ self-governance close-due``: votes are counted and proposals expire on time
even when nobody opens their pages."""

from __future__ import annotations

from typing import Any


def close_due(app: Any) -> str:
    """Count every vote past its close, open the sealed sheets of every evaluation past
    its close, and expire proposals past their deadline."""
    from core.toolkit import current_kernel
    from plugins.self_governance import services as sv

    with app.app_context():
        kernel = current_kernel()
        with kernel.db.session_scope() as session:
            closed = sv.close_due_votes(session, kernel, kernel.bus)
            rounds = sv.open_due_rounds(session, kernel)
            expired = sv.expire_proposals(session)
    return (
        f"votes counted: {len(closed)}; evaluations opened: {len(rounds)}; "
        f"proposals expired: {expired}"
    )
