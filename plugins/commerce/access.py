"""Who sees what of a ticket, for the pages and the API alike (the rules are in
``services.contact_policy``; this module binds them to the signed-in viewer).

* ``role_for`` — the viewer's relation to a ticket: ``owner`` (their own registry
  person's ticket), ``hotline`` (takes calls and dispatches: every caller, no place
  scope), ``staff`` (reads tickets within their places: community workers, auditors), or
  ``None`` (no access: a 404).
* ``reader`` — the scoped reader for the viewer, with the place scope a role implies and
  the fields a step grants in full.
* ``contact`` — the caller's name, phone and address for one display, logged.
"""

from __future__ import annotations

from typing import Any

from core.toolkit import (
    RegistryReader,
    current_principal,
    current_session,
    has_permission,
    registry_reader,
)
from plugins.commerce import READ, info
from plugins.commerce import services as svc
from plugins.commerce.models import Ticket


def reader(purpose: str, *, grant: tuple[str, ...] = (), enforce_place: bool = False
           ) -> RegistryReader:
    """The plugin's reader for the signed-in viewer. Hotline operators and merchants read
    without place scope (a hotline serves every caller; a merchant reads the customer of
    its own ticket); place-scoped staff pass ``enforce_place=True``. Every read is logged
    under the real viewer with ``purpose``."""
    return registry_reader(current_session(), info.id, actor=current_principal(),
                           purpose=purpose, enforce_place=enforce_place, grant=grant)


def reader_for(role: str) -> svc.ReaderFor:
    """The reader factory ``services.contact_view`` calls for a viewer in ``role``."""

    def make(purpose: str, grant: tuple[str, ...]) -> RegistryReader:
        return reader(purpose, grant=grant, enforce_place=role == "staff")

    return make


def own(ticket: Ticket) -> bool:
    pid = getattr(current_principal(), "person_id", None)
    return pid is not None and ticket.person_id == pid


def staff_communities() -> frozenset[str] | None:
    """The communities whose tickets the viewer (staff) sees; ``None``: all."""
    return svc.viewer_communities(current_principal(), reader(""))


def role_for(ticket: Ticket, *, communities: Any = ..., as_staff: bool = False) -> str | None:
    """The viewer's role for this ticket, or ``None`` when it does not exist for them
    (another resident's ticket, a ticket outside a place-scoped worker's communities).
    ``as_staff``: the staff pages, where even one's own ticket is seen as staff."""
    user = current_principal()
    if own(ticket) and not as_staff:
        return "owner"
    if not has_permission(user, READ):
        return None
    role = svc.staff_role(user)
    if role == "staff":
        places = staff_communities() if communities is ... else communities
        if not svc.ticket_in_place(ticket, places):
            return None
    return role


def contact(ticket: Ticket, role: str, *, merchant_id: int | None = None,
            listing: bool = False) -> dict[str, Any]:
    """``services.contact_view`` for the signed-in viewer."""
    return svc.contact_view(current_session(), ticket, role=role, actor=current_principal(),
                            reader_for=reader_for(role), merchant_id=merchant_id,
                            listing=listing)


def contacts(tickets: list[Ticket], role: str, *, merchant_id: int | None = None
             ) -> dict[int, dict[str, Any]]:
    """The contact of each ticket of a list, as ``role`` sees it in a list."""
    return {t.id: contact(t, role, merchant_id=merchant_id, listing=True) for t in tickets}
