"""Telling a resident what became of their safety report: received, an officer sent,
and closed with the officer's outcome note (which closing requires).

Called by the workflow itself (:func:`~.incidents.raise_incident`,
:func:`~.incidents.transition`), in the same transaction as the step, so every entry
point — the desk, the API — tells the reporter alike and a step that rolls back tells
nobody. Each notification is a ``Message``, told in the language the reporter reads it
in (not the officer's), and links to the reporter's page of the
report, which marks it read when opened.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import Message, account_view, notify

PLUGIN = "surveillance"


def report_link(incident_id: int) -> str:
    """The reporter's page of the report (``surveillance.my_report``)."""
    return f"/surveillance/my-reports/{incident_id}"


def _texts(incident: Any, step: str, note: str) -> tuple[Message, Message, str] | None:
    """(title, body, kind), told in whichever language the reporter reads them in, or
    None for a step the reporter is not told about (acknowledging: the next step follows
    soon). The officer's note is what a person wrote: a parameter, shown as written."""
    if step == "raised":
        return (Message("Report %(id)s received", id=incident.id),
                Message("The security team checks it and sends someone if needed."), "info")
    if step == "dispatched":
        return (Message("Report %(id)s: an officer is dealing with it", id=incident.id),
                Message("They may call you back on your registered phone number."), "info")
    if step == "resolved":
        return (Message("Report %(id)s is resolved", id=incident.id),
                Message("The officer's outcome: %(note)s", note=note), "success")
    if step == "false_alarm":
        return (Message("Report %(id)s is closed: nothing needed doing", id=incident.id),
                Message("The officer's outcome: %(note)s", note=note), "info")
    return None


def tell_reporter(session: Session, incident: Any, step: str, note: str = "") -> bool:
    """Notify the resident who reported ``incident`` of ``step``; False when there is
    nobody to tell (staff and analytics incidents, a closed account)."""
    if incident.source != "resident" or not incident.reporter_id:
        return False
    account = account_view(session, incident.reporter_id)
    if account is None or not account.is_active:
        return False
    texts = _texts(incident, step, note)
    if texts is None:
        return False
    title, body, kind = texts
    notify(session, None, user_id=account.id, title=title, body=body,
           link=report_link(incident.id), kind=kind, source=PLUGIN)
    return True
