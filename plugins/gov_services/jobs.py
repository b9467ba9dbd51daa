"""The plugin's periodic jobs (``register_jobs``), run hourly by ``shequ worker`` and on
demand by ``shequ gov_services proactive|deadlines``. Both act at most once per person
(offer) or per due date (warning), so running them more often than daily is harmless and
a restarted worker misses nothing."""

from __future__ import annotations

from typing import Any


def proactive(app: Any) -> str:
    """Make the offers the catalogue's rules call for, over the whole registry (batched,
    committed batch by batch, progress logged)."""
    from core.toolkit import current_kernel
    from plugins.gov_services.services import gov
    from plugins.gov_services.services.proactive import evaluate_registry

    with app.app_context():
        kernel = current_kernel()
        with kernel.db.session_scope() as session:
            made = evaluate_registry(session, gov(kernel), commit=session.commit)
    return f"offers made: {made}"


def deadlines(app: Any) -> str:
    """Warn the handling staff of cases due soon or overdue (once per due date)."""
    from core.toolkit import current_kernel
    from plugins.gov_services.services import deadline_warnings, gov

    with app.app_context():
        kernel = current_kernel()
        with kernel.db.session_scope() as session:
            made = deadline_warnings(session, gov(kernel))
    return f"warnings sent: {made}"
