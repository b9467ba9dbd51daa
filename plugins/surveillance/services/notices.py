"""Telling a resident what became of their safety report: received, an officer sent,
and closed with the officer's outcome note (which closing requires).

Called by the workflow itself (:func:`~.incidents.raise_incident`,
:func:`~.incidents.transition`), in the same transaction as the step, so every entry
point — the desk, the API — tells the reporter alike and a step that rolls back tells
nobody. Each notification is written in the reporter's own language
(``recipient_locale``), not the officer's, and links to the reporter's page of the
report, which marks it read when opened.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from core.toolkit import account_view, notify, recipient_locale

PLUGIN = "surveillance"


def report_link(incident_id: int) -> str:
    """The reporter's page of the report (``surveillance.my_report``)."""
    return f"/surveillance/my-reports/{incident_id}"


def _texts(incident: Any, step: str, note: str) -> tuple[str, str, str] | None:
    """(title, body, kind) in the current (the recipient's) language, or None for a
    step the reporter is not told about (acknowledging: the next step follows soon)."""
    if step == "raised":
        return (_("Report %(id)s received", id=incident.id),
                _("The security team checks it and sends someone if needed."), "info")
    if step == "dispatched":
        return (_("Report %(id)s: an officer is dealing with it", id=incident.id),
                _("They may call you back on your registered phone number."), "info")
    if step == "resolved":
        return (_("Report %(id)s is resolved", id=incident.id),
                _("The officer's outcome: %(note)s", note=note), "success")
    if step == "false_alarm":
        return (_("Report %(id)s is closed: nothing needed doing", id=incident.id),
                _("The officer's outcome: %(note)s", note=note), "info")
    return None


def tell_reporter(session: Session, incident: Any, step: str, note: str = "") -> bool:
    """Notify the resident who reported ``incident`` of ``step``; False when there is
    nobody to tell (staff and analytics incidents, a closed account)."""
    if incident.source != "resident" or not incident.reporter_id:
        return False
    account = account_view(session, incident.reporter_id)
    if account is None or not account.is_active:
        return False
    with recipient_locale(session, account.id):
        texts = _texts(incident, step, note)
        if texts is None:
            return False
        title, body, kind = texts
        notify(session, None, user_id=account.id, title=title, body=body,
               link=report_link(incident.id), kind=kind, source=PLUGIN)
    return True
