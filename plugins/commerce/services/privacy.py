"""Callers' personal data: a ticket refers to its caller by registry person id and
:func:`contact_view` reads their name, phone and address through the scoped reader each
time a ticket is shown. What a caller told the hotline that the registry does not hold
(``Ticket.caller_*``) is governed the same way: masked by default, in full only for the
step that needs it (:func:`contact_policy`), every display logged in the person's access
log (or, for a caller who is not registered, in the audit log naming the ticket), and
erased ``caller_data_retention_days`` after the case closes (:func:`erase_caller_data`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.toolkit import (
    ScopeError,
    has_permission,
    log_audit,
    log_person_access,
    mask_address,
    mask_name,
    mask_phone,
    utcnow,
)
from plugins.commerce.models import Ticket
from plugins.commerce.services.common import _settings, log_event

#: The fields of a caller a ticket may show.
CONTACT_FIELDS = ("name", "phone", "address")


#: States in which the merchant holds the ticket open and needs the customer's contact.
HELD_STATES = ("accepted", "in_progress")


#: Steps at which the hotline has to phone the resident: calling a one-key caller back,
#: and the follow-up call (回访) once the work is done.
CALL_STEPS = ("callback", "completed", "confirmed")


class ReaderFor(Protocol):
    """Builds the scoped reader for one display: ``toolkit.registry_reader`` bound to the
    viewer, with ``purpose`` and ``grant`` (the fields this step shows in full)."""

    def __call__(self, purpose: str, grant: tuple[str, ...]) -> Any: ...


def staff_role(viewer: Any) -> str:
    """``"hotline"`` for those who take calls and dispatch (a hotline serves every caller,
    so they are not place-scoped), else ``"staff"`` (community workers, auditors: only
    the communities their assignments name)."""
    from plugins.commerce import DISPATCH

    return "hotline" if has_permission(viewer, DISPATCH) else "staff"


def viewer_communities(viewer: Any, reader: Any) -> frozenset[str] | None:
    """The community codes a place-scoped staff viewer may see tickets of (their community
    assignments, and the communities of their grids); ``None`` for everywhere (hotline
    operators, and an ``all`` assignment). No assignment means no community."""
    if staff_role(viewer) == "hotline":
        return None
    pairs = {
        (getattr(sc, "kind", None), getattr(sc, "code", None))
        for sc in (getattr(viewer, "scopes", None) or ())
    }
    pairs |= {tuple(sc) for sc in (getattr(viewer, "scopes", None) or ()) if isinstance(sc, tuple)}
    if ("all", "") in pairs:
        return None
    codes = {code for kind, code in pairs if kind == "community" and code}
    grids = {code for kind, code in pairs if kind == "grid" and code}
    if grids:
        codes |= {g["community"] for g in reader.grids() if g["code"] in grids}
    return frozenset(codes)


def ticket_in_place(ticket: Ticket, communities: frozenset[str] | None) -> bool:
    return communities is None or (ticket.community is not None and ticket.community in communities)


def contact_policy(
    ticket: Ticket, role: str, *, merchant_id: int | None = None, listing: bool = False
) -> tuple[frozenset[str], frozenset[str]]:
    """``(shown, full)``: which of the caller's name, phone and address a viewer in
    ``role`` sees of this ticket at its current step, and which of those unmasked.

    * ``owner`` — the resident's own ticket: everything.
    * ``merchant`` — holding it open (accepted, in progress): everything in full, to do
      the job; offered or done: the address down to the building only.
    * ``hotline`` — masked, the name in full on the ticket page; the phone in full at the
      steps where the operator must call the resident (a one-key call-back, the follow-up
      call). Lists mask the name too.
    * ``staff`` (place-scoped: community workers, auditors) — masked; the name in full on
      the ticket page only."""
    every = frozenset(CONTACT_FIELDS)
    if role == "owner":
        return every, every
    if role == "merchant":
        if (
            merchant_id is not None
            and ticket.merchant_id == merchant_id
            and ticket.state in HELD_STATES
        ):
            return every, every
        return frozenset({"address"}), frozenset()
    full: set[str] = set() if listing else {"name"}
    if role == "hotline" and not listing and ticket.state in CALL_STEPS:
        full.add("phone")
    return every, frozenset(full)


def mask_free_address(text: str) -> str:
    """A typed address masked like the registry masks one (down to the building): kept up
    to the first 栋/号楼/幢 (else the first 号, else the first third), then ``****``."""
    text = (text or "").strip()
    if not text:
        return ""
    for mark in ("号楼", "栋", "幢", "号"):
        at = text.find(mark)
        if at > 0:
            return mask_address(text[: at + len(mark)], "", "").strip()
    return mask_address(text[: max(len(text) // 3, 1)], "", "").strip()


_MASKS = {"name": mask_name, "phone": mask_phone, "address": mask_free_address}


def contact_view(
    session: Session,
    ticket: Ticket,
    *,
    role: str,
    actor: Any,
    reader_for: ReaderFor,
    merchant_id: int | None = None,
    listing: bool = False,
) -> dict[str, Any]:
    """The caller's name, phone and address as ``actor`` (in ``role``) may see them now
    (:func:`contact_policy`), each display logged with purpose ``ticket <id>``.

    A registry caller's data is read through the scoped reader, which logs it; what the
    caller gave the hotline instead (``caller_*``) is masked or shown by the same policy
    and logged here — in the person's access log, or, for a caller who is not in the
    registry (there is no access log to write), as an audit entry naming the ticket.
    Returns ``name``, ``phone``, ``address`` (``""`` when not shown or unknown), ``full``
    (the fields shown unmasked), ``in_registry``, ``erased`` and ``out_of_place`` (the
    reader refused the person: nothing of them is shown)."""
    shown, full = contact_policy(ticket, role, merchant_id=merchant_id, listing=listing)
    purpose = f"ticket {ticket.id}"
    out: dict[str, Any] = {
        "name": "",
        "phone": "",
        "address": "",
        "full": [],
        "in_registry": ticket.person_id is not None,
        "erased": ticket.caller_erased_at is not None,
        "out_of_place": False,
    }
    copies = {
        "name": ticket.caller_name,
        "phone": ticket.caller_phone,
        "address": ticket.caller_address,
    }
    from_registry = [f for f in CONTACT_FIELDS if f in shown and not copies[f]]
    if ticket.person_id is not None and from_registry:
        reveal = tuple(f for f in from_registry if f in full and f != "name")
        try:
            person = reader_for(purpose, reveal).person(ticket.person_id, reveal=reveal)
        except ScopeError:
            out["out_of_place"] = True
            return out
        for f in from_registry:
            value = person.get(f) or ""
            out[f] = value if (f in full or f != "name") else mask_name(value)
    copied = [f for f in CONTACT_FIELDS if f in shown and copies[f]]
    for f in copied:
        out[f] = copies[f] if f in full else _MASKS[f](copies[f])
    out["full"] = [f for f in CONTACT_FIELDS if f in shown and f in full and out[f]]
    if role != "owner" and copied:
        _log_copies(
            session,
            ticket,
            actor=actor,
            purpose=purpose,
            full=[f for f in copied if f in full],
            masked=[f for f in copied if f not in full],
            role=role,
        )
    return out


def _log_copies(
    session: Session,
    ticket: Ticket,
    *,
    actor: Any,
    purpose: str,
    full: list[str],
    masked: list[str],
    role: str,
) -> None:
    from plugins.commerce import info

    if ticket.person_id is not None:
        for fields_, is_masked in ((full, False), (masked, True)):
            if fields_:
                log_person_access(
                    session,
                    person_id=ticket.person_id,
                    fields=fields_,
                    purpose=purpose,
                    plugin=info.id,
                    actor=actor,
                    masked=is_masked,
                )
        return
    who = getattr(actor, "actor", None) or actor
    log_audit(
        session,
        "commerce.caller_data.shown",
        actor=who,
        target_type="commerce_ticket",
        target_id=ticket.id,
        detail={"purpose": purpose, "role": role, "full": sorted(full), "masked": sorted(masked)},
    )


def erase_caller_data(
    session: Session, *, settings: dict[str, Any] | None = None, now: datetime | None = None
) -> int:
    """Erase what callers gave the hotline (``caller_*``) from tickets closed more than
    ``caller_data_retention_days`` ago; the ticket, its timeline and its registry reference
    stay. Idempotent; one audit entry per run that erased anything."""
    cfg = _settings(settings)
    now = now or utcnow()
    days = int(cfg["caller_data_retention_days"])
    cutoff = now - timedelta(days=days)
    rows = session.scalars(
        select(Ticket).where(
            Ticket.closed_at.is_not(None),
            Ticket.closed_at < cutoff,
            or_(Ticket.caller_name != "", Ticket.caller_phone != "", Ticket.caller_address != ""),
        )
    ).all()
    for ticket in rows:
        ticket.caller_name = ticket.caller_phone = ticket.caller_address = ""
        ticket.caller_erased_at = now
        log_event(session, ticket, "caller_data_erased", note=f"{days}d")
    if rows:
        log_audit(
            session,
            "commerce.caller_data.erased",
            target_type="commerce_ticket",
            detail={"tickets": len(rows), "retention_days": days},
        )
    session.flush()
    return len(rows)
