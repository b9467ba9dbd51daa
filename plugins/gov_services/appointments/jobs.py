"""Appointment jobs (``register_jobs``), hourly: reminders for tomorrow's appointments
(once each: ``reminded_at``) and missed appointments after their slot (once: the state
changes). Running them more often is harmless."""

from __future__ import annotations

from typing import Any


def reminders(app: Any) -> str:
    """Remind residents the day before, in their language and the office's time."""
    from core.toolkit import current_kernel
    from plugins.gov_services.appointments.services import send_reminders
    from plugins.gov_services.services import gov

    with app.app_context():
        kernel = current_kernel()
        with kernel.db.session_scope() as session:
            sent = send_reminders(session, gov(kernel))
    return f"reminders sent: {sent}"


def no_shows(app: Any) -> str:
    """Mark bookings nobody checked in as missed, and tell the resident."""
    from core.toolkit import current_kernel
    from plugins.gov_services.appointments.services import sweep_no_shows
    from plugins.gov_services.services import gov

    with app.app_context():
        kernel = current_kernel()
        with kernel.db.session_scope() as session:
            missed = sweep_no_shows(session, gov(kernel))
    return f"missed appointments: {missed}"
