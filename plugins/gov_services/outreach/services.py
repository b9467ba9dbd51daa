"""The rules of the outreach list and of a resident's offers: what a worker sees (items
in their communities and grids, not done, masked names), recording the outcome of a call
or a visit, a resident declining, the grid plugin's referred findings, the applications
that settle an offer, and the statistics. Plain functions over a session; they flush, the
caller commits.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from core.toolkit import MAX_ID, N_, log_audit, log_person_access, scope_allows
from plugins.gov_services.outreach.models import (
    DONE_OUTCOMES,
    OPEN_OUTCOMES,
    STAFF_OUTCOMES,
    OutreachContact,
    OutreachItem,
)
from plugins.gov_services.services.context import Gov
from plugins.gov_services.services.proactive import make_offer
from plugins.gov_services.services.queries import scope_filter
from plugins.gov_services.services.vocabulary import (
    PLUGIN,
    GovError,
    clock,
    has_bad_chars,
    local_today,
)

#: Work the outreach list: see who was offered a service without an account, record
#: the outcome of a call or a visit.
OUTREACH = "gov_services.outreach.work"

OUTCOME_LABELS = {
    "open": N_("Not contacted yet"),
    "reached": N_("Reached"),
    "applied": N_("Applied"),
    "declined": N_("Declined"),
    "unreachable": N_("Unreachable"),
    "completed": N_("Completed"),
    "ineligible": N_("No longer eligible"),
}
METHOD_LABELS = {"call": N_("Phone call"), "visit": N_("Home visit"), "resident": N_("Online")}
MAX_NOTE = 500


class OutreachNotFound(GovError):
    status = 404


class OutreachStateError(GovError):
    status = 409


def outreach_query(
    actor: Any,
    *,
    community: str | None = None,
    grid: str | None = None,
    service: str | None = None,
    due_only: bool = False,
    today: date | None = None,
) -> Select[tuple[OutreachItem]]:
    """The outreach list: offers to persons without an account, in the actor's places,
    not done, those due first (never contacted, then by follow-up date)."""
    query = select(OutreachItem).where(
        OutreachItem.channel == "outreach", OutreachItem.state.in_(OPEN_OUTCOMES)
    )
    where = scope_filter(actor, OutreachItem.community, OutreachItem.grid)
    if where is not None:
        query = query.where(where)
    if community:
        query = query.where(OutreachItem.community == community)
    if grid:
        query = query.where(OutreachItem.grid == grid)
    if service:
        query = query.where(OutreachItem.service_code == service)
    if due_only:
        today = today or local_today()
        query = query.where(
            (OutreachItem.follow_up_on.is_(None)) | (OutreachItem.follow_up_on <= today)
        )
    return query.order_by(
        case((OutreachItem.state == "open", 0), else_=1),
        OutreachItem.follow_up_on.is_(None).desc(),
        OutreachItem.follow_up_on,
        OutreachItem.id,
    )


def item_for_staff(session: Session, actor: Any, item_id: int) -> OutreachItem:
    """An outreach item within the actor's places (404 otherwise: existence must not
    leak)."""
    item = session.get(OutreachItem, item_id) if 0 < item_id <= MAX_ID else None
    if item is None or not scope_allows(actor, community=item.community, grid=item.grid):
        raise OutreachNotFound(N_("There is no such outreach item."), "item")
    return item


def clean_note(note: str | None) -> str:
    note = (note or "").strip()
    if has_bad_chars(note):
        raise GovError(N_("Contains a character that is not allowed."), "note")
    if len(note) > MAX_NOTE:
        raise GovError(N_("At most %(n)s characters."), "note", n=MAX_NOTE)
    return note


def record_outcome(
    session: Session,
    g: Gov,
    item: OutreachItem,
    *,
    actor: Any,
    outcome: str,
    method: str = "call",
    note: str = "",
    follow_up_on: date | None = None,
) -> OutreachContact:
    """A worker's call or visit and what came of it. ``reached`` and ``unreachable``
    keep the item on the list (a follow-up date says when to try again); ``applied`` and
    ``declined`` take it off, and the offer is not made again for the repeat period."""
    if outcome not in STAFF_OUTCOMES:
        raise GovError(N_("Choose one of the options."), "outcome")
    if method not in ("call", "visit"):
        raise GovError(N_("Choose one of the options."), "method")
    note = clean_note(note)
    today = local_today(g.kernel)
    if follow_up_on is not None:
        if outcome in DONE_OUTCOMES:
            raise GovError(N_("A follow-up date is only for someone to contact again."),
                           "follow_up_on")
        if follow_up_on < today:
            raise GovError(N_("The follow-up date cannot be in the past."), "follow_up_on")
    if item.state not in OPEN_OUTCOMES:
        raise OutreachStateError(N_("This offer is already settled."), "item")
    contact = OutreachContact(
        item=item, outcome=outcome, method=method, note=note, follow_up_on=follow_up_on,
        actor_id=getattr(actor, "id", None),
    )
    session.add(contact)
    item.state, item.follow_up_on = outcome, follow_up_on
    if note:
        item.note = note
    if outcome in DONE_OUTCOMES:
        item.closed_at = clock()
    log_audit(session, "gov_services.outreach.outcome", actor=actor, target_type="outreach_item",
              target_id=str(item.id), detail={"outcome": outcome, "method": method})
    session.flush()
    return contact


def my_offers(session: Session, person_id: int | None) -> list[OutreachItem]:
    """A resident's own offers, newest first (the ones still standing and the settled)."""
    if person_id is None:
        return []
    return list(
        session.scalars(
            select(OutreachItem)
            .where(OutreachItem.person_id == person_id, OutreachItem.state != "ineligible")
            .order_by(OutreachItem.offered_at.desc(), OutreachItem.id.desc())
        )
    )


def my_offer(session: Session, person_id: int | None, item_id: int) -> OutreachItem:
    item = session.get(OutreachItem, item_id) if 0 < item_id <= MAX_ID else None
    if item is None or person_id is None or item.person_id != person_id:
        raise OutreachNotFound(N_("There is no such offer."), "item")
    return item


def decline(session: Session, g: Gov, item: OutreachItem, *, actor: Any, note: str = ""
            ) -> OutreachItem:
    """The resident says no thanks: the offer is settled and not made again for the
    repeat period."""
    note = clean_note(note)
    if item.state not in OPEN_OUTCOMES:
        raise OutreachStateError(N_("This offer is already settled."), "item")
    session.add(OutreachContact(item=item, outcome="declined", method="resident", note=note,
                                actor_id=getattr(actor, "id", None)))
    item.state, item.closed_at, item.follow_up_on = "declined", clock(), None
    session.flush()
    return item


def settle_by_application(session: Session, person_id: int, service_code: str,
                          state: str) -> None:
    """An application for an offered service settles the offer: ``applied`` when it is
    filed, ``completed`` when it is completed (whoever filed it: online, assisted, at the
    counter)."""
    item = session.scalar(
        select(OutreachItem).where(
            OutreachItem.person_id == person_id, OutreachItem.service_code == service_code
        )
    )
    if item is None:
        return
    target = "completed" if state == "completed" else "applied"
    if item.state == target or (item.state == "completed" and target == "applied"):
        return
    item.state, item.closed_at, item.follow_up_on = target, clock(), None
    session.flush()


def from_finding(session: Session, g: Gov, payload: dict[str, Any]) -> OutreachItem | None:
    """``grid.finding.referred`` with kind "offer": a grid worker met someone who should
    be offered ``service_code``. One item per finding (a redelivery finds it); the
    worker's words are the item's note; the evaluator's own suppression applies."""
    if payload.get("kind") != "offer" or not payload.get("person_id"):
        return None
    service = g.catalogue.get(payload.get("service_code") or "")
    if service is None:
        return None
    found = session.scalar(
        select(OutreachItem).where(OutreachItem.finding_id == payload["finding_id"])
    )
    if found is not None:
        return found
    from plugins.gov_services.services.proactive import account_of

    item = session.scalar(
        select(OutreachItem).where(
            OutreachItem.person_id == payload["person_id"],
            OutreachItem.service_code == service.code,
        )
    )
    summary = (payload.get("summary") or "")[:MAX_NOTE]
    made = make_offer(
        session, g, service, person_id=payload["person_id"],
        community=payload.get("community"), grid=payload.get("grid"),
        user_id=account_of(session, payload["person_id"]), item=item, source="grid",
        finding_id=payload["finding_id"], note=summary,
    )
    if made is None and item is not None and item.finding_id is None:
        item.finding_id = payload["finding_id"]  # the standing offer answers the finding
        if summary and not item.note:
            item.note = summary
        session.flush()
        return item
    return made


def log_item_display(session: Session, items: list[OutreachItem], actor: Any,
                     purpose: str) -> None:
    """The offer itself (service, outcome, note) is the plugin's own data about the
    person: each display to staff goes to the person's access log."""
    for item in items:
        log_person_access(session, person_id=item.person_id,
                          fields=["offer", *(["outreach note"] if item.note else [])],
                          purpose=purpose, plugin=PLUGIN, actor=actor, masked=True)


def outreach_statistics(session: Session, actor: Any) -> dict[str, Any]:
    """Offers made / reached / applied per service in the actor's places. Reached: told
    by notification, or a worker's call or visit got through; applied: an application
    followed (or was completed)."""
    reached = case(
        (
            (OutreachItem.channel == "notification")
            | OutreachItem.state.in_(("reached", "applied", "declined", "completed")),
            1,
        ),
        else_=0,
    )
    applied = case((OutreachItem.state.in_(("applied", "completed")), 1), else_=0)
    query = select(
        OutreachItem.service_code,
        func.count(OutreachItem.id),
        func.sum(reached),
        func.sum(applied),
        func.sum(case((OutreachItem.channel == "outreach", 1), else_=0)),
    ).group_by(OutreachItem.service_code)
    where = scope_filter(actor, OutreachItem.community, OutreachItem.grid)
    if where is not None:
        query = query.where(where)
    per_service = {
        code: {"made": int(n), "reached": int(r or 0), "applied": int(a or 0),
               "outreach": int(o or 0)}
        for code, n, r, a, o in session.execute(query)
    }
    totals = {k: sum(v[k] for v in per_service.values())
              for k in ("made", "reached", "applied", "outreach")}
    return {"per_service": per_service, **totals}
