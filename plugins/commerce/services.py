"""The hotline's rules: plain functions over a session, no Flask. Pages, the API, the CLI,
the demo seeder and the event handlers all call these; they flush, never commit.

Dispatch in one paragraph: a ticket in ``received`` is offered to one merchant at a time
(``dispatched``, with an ``accept_by`` deadline). Candidates are approved merchants of the
ticket's category serving its community, ranked by score (higher first) then current load
(fewer open tickets first). A merchant that declines, lets the deadline pass, or is
suspended loses the offer and the next candidate gets it; when nobody is left the ticket
goes back to ``received`` for the operator. Accepting is one conditional UPDATE
(``WHERE state = 'dispatched' AND merchant_id = :me``): the database lets exactly one
writer win, and a partial unique index allows one accepted offer per ticket.

Personal data in one paragraph: a ticket refers to its caller by registry person id and
:func:`contact_view` reads their name, phone and address through the scoped reader each
time a ticket is shown. What a caller told the hotline that the registry does not hold
(``Ticket.caller_*``) is governed the same way: masked by default, in full only for the
step that needs it (:func:`contact_policy`), every display logged in the person's access
log (or, for a caller who is not registered, in the audit log naming the ticket), and
erased :data:`DEFAULTS` ``caller_data_retention_days`` after the case closes
(:func:`erase_caller_data`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from sqlalchemy import Select, case, func, or_, select, update
from sqlalchemy.orm import Session

from core.toolkit import (
    IdentifierError,
    RegistryReader,
    ScopeError,
    has_permission,
    log_audit,
    log_person_access,
    mask_address,
    mask_name,
    mask_phone,
    parse_credit_code,
    utcnow,
)
from plugins.commerce.models import (
    Complaint,
    Dispatch,
    Merchant,
    MerchantLog,
    MerchantStaff,
    Ticket,
    TicketEvent,
)


def N_(message: str) -> str:
    """Marks a message for extraction; the page or API translates it when shown."""
    return message


#: Service categories (docs/requirements.md, domain §4): code → (English, Chinese).
CATEGORIES: dict[str, tuple[str, str]] = {
    "housekeeping": ("Housekeeping", "家政保洁"),
    "repairs": ("Appliance and utility repairs", "家电水电维修"),
    "plumbing": ("Drain clearing", "管道疏通"),
    "locksmith": ("Locksmith", "开锁"),
    "renovation": ("Home repairs", "房屋修缮"),
    "moving": ("Moving", "搬家"),
    "delivery": ("Delivery (water, gas, groceries, medicine)", "配送"),
    "elderly_meals": ("Meals for the elderly", "养老助餐"),
    "home_care": ("Home care", "居家照护"),
    "laundry": ("Laundry", "洗衣"),
    "other": ("Other", "其他"),
}

STATES: dict[str, tuple[str, str]] = {
    "callback": ("Call back", "待回电"),
    "received": ("Received", "已受理"),
    "dispatched": ("Dispatched", "已派单"),
    "accepted": ("Accepted", "已接单"),
    "in_progress": ("In progress", "服务中"),
    "completed": ("Completed", "已完工"),
    "confirmed": ("Confirmed", "已确认"),
    "rated": ("Rated", "已回访"),
    "cancelled": ("Cancelled", "已取消"),
}
OPEN_STATES = ("callback", "received", "dispatched", "accepted", "in_progress")
LOAD_STATES = ("dispatched", "accepted", "in_progress")
DONE_STATES = ("completed", "confirmed", "rated")

MERCHANT_STATES: dict[str, tuple[str, str]] = {
    "applied": ("Applied", "待审核"),
    "approved": ("Approved", "已批准"),
    "suspended": ("Suspended", "已暂停"),
    "revoked": ("Revoked", "已撤销"),
}
#: decision → (allowed from, new status)
DECISIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "approve": (("applied", "suspended"), "approved"),
    "suspend": (("approved",), "suspended"),
    "revoke": (("applied", "approved", "suspended"), "revoked"),
    "warn": (("approved", "suspended"), ""),
}

CHANNELS: dict[str, tuple[str, str]] = {
    "operator": ("Hotline call", "热线来电"),
    "web": ("Web", "网上报修"),
    "one_key": ("One-key call", "一键呼叫"),
}

#: Defaults of ``[plugins.commerce]`` (see ``CommerceConfig`` in the package).
DEFAULTS: dict[str, Any] = {
    "accept_timeout_minutes": 30,
    "response_hours": 2,
    "completion_hours": 48,
    "auto_dispatch": True,
    "review_score": 3.0,
    "review_min_ratings": 3,
    "default_score": 4.0,
    "caller_data_retention_days": 30,
}

ELDER_BANDS = ("60-69", "70-79", "80-89", "90+")


class CommerceError(ValueError):
    """A rule was broken. ``field`` names the input (or ``""``); ``status`` is what the API
    answers: 422 for input, 409 for the ticket's or merchant's state, 404 for objects."""

    def __init__(self, message: str, field: str = "", *, status: int = 422, **params: Any):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.params = params


MAX_ID = 2**31 - 1


def fetch(session: Session, model: type, ident: int | None) -> Any:
    """``session.get`` for ids from URLs and bodies: an id no column can hold (the int
    converter accepts any size) is simply not found, rather than a database error."""
    if ident is None or not 0 < int(ident) <= MAX_ID:
        return None
    return session.get(model, int(ident))


def label(table: dict[str, tuple[str, str]], code: str | None, lang: str = "zh") -> str:
    if not code:
        return ""
    pair = table.get(code)
    if pair is None:
        return code
    return pair[1] if lang == "zh" else pair[0]


def _settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    return {**DEFAULTS, **(settings or {})}


def _name(actor: Any) -> tuple[int | None, str]:
    if actor is None:
        return None, "system"
    agent = getattr(actor, "agent", None)
    who = agent if agent is not None else actor
    return getattr(actor, "id", None), (
        getattr(who, "display_name", "") or getattr(who, "username", "") or ""
    )[:100]


def _text(
    value: Any, field: str, limit: int, *, required: bool = False, multiline: bool = False
) -> str:
    """Stripped text without control characters (PostgreSQL refuses NUL)."""
    value = str(value or "").strip()
    allowed = "\n\r\t" if multiline else ""
    for ch in value:
        code = ord(ch)
        if (code < 32 and ch not in allowed) or code == 127 or 0xD800 <= code <= 0xDFFF:
            raise CommerceError(N_("Contains a character that is not allowed."), field)
    if required and not value:
        raise CommerceError(N_("This cannot be empty."), field)
    if len(value) > limit:
        raise CommerceError(N_("At most %(limit)s characters."), field, limit=limit)
    return value


def _phone(value: Any, field: str) -> str:
    """A phone number as typed (digits, spaces, ``+`` and ``-``), or empty."""
    value = _text(value, field, 30)
    if value and not all(ch.isdigit() or ch in " +-" for ch in value):
        raise CommerceError(N_("Enter a phone number (digits only)."), field)
    return value


def same_phone(a: str | None, b: str | None) -> bool:
    """Two spellings of one number (spaces, dashes, a +86 prefix aside)."""

    def digits(v: str | None) -> str:
        d = "".join(ch for ch in (v or "") if ch.isdigit())
        return d[2:] if d.startswith("86") and len(d) == 13 else d

    return bool(digits(a)) and digits(a) == digits(b)


def log_event(
    session: Session, ticket: Ticket, kind: str, *, actor: Any = None, note: str = ""
) -> None:
    """A timeline entry. The resident acting on their own ticket is recorded by account
    id only: the timeline is shown to staff and its event says "by the resident", so
    their name is not copied into it (an agent acting for them is named)."""
    actor_id, actor_name = _name(actor)
    if (
        ticket.person_id is not None
        and getattr(actor, "person_id", None) == ticket.person_id
        and getattr(actor, "agent", None) is None
    ):
        actor_name = ""
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind=kind,
            note=note[:500],
            actor_id=actor_id,
            actor_name=actor_name,
            at=utcnow(),
        )
    )


# ============================================================================ merchants


def merchant_for_user(session: Session, user_id: int | None) -> Merchant | None:
    """The merchant a staff account is bound to (None for everybody else)."""
    if user_id is None:
        return None
    return session.scalar(
        select(Merchant)
        .join(MerchantStaff, MerchantStaff.merchant_id == Merchant.id)
        .where(MerchantStaff.user_id == user_id)
    )


def bind_staff(session: Session, user_id: int, merchant_id: int) -> None:
    """Bind an account to a merchant; an account works for one merchant only."""
    row = fetch(session, MerchantStaff, user_id)
    if row is not None and row.merchant_id != merchant_id:
        raise CommerceError(
            N_("This account already works for another merchant."), "user", status=409
        )
    if row is None:
        session.add(MerchantStaff(user_id=user_id, merchant_id=merchant_id))
        session.flush()


def _clean_codes(values: Any, allowed: dict | set | None, field: str) -> list[str]:
    out = []
    for v in values or []:
        v = str(v).strip()
        if not v:
            continue
        if allowed is not None and v not in allowed:
            raise CommerceError(N_("Unknown value: %(value)s."), field, value=v[:30])
        if v not in out:
            out.append(v)
    if not out:
        raise CommerceError(N_("Choose at least one."), field)
    return out


def apply_merchant(
    session: Session,
    reader: Any,
    *,
    credit_code: str,
    name: str,
    categories: list[str],
    communities: list[str],
    opening_hours: str = "",
    price_list: str = "",
    phone: str = "",
    user: Any = None,
    community_codes: set[str] | None = None,
) -> Merchant:
    """A merchant applies: its organisation must be registered (found by its credit code,
    which the registry validated) and not applied already. The applying account becomes
    the merchant's first staff account."""
    try:
        credit_code = parse_credit_code(_text(credit_code, "credit_code", 30, required=True)).code
    except IdentifierError:
        raise CommerceError(
            N_(
                "This is not a valid unified social credit code (18 characters, check "
                "character last)."
            ),
            "credit_code",
        ) from None
    org = reader.organisation(credit_code=credit_code)
    if org is None:
        raise CommerceError(
            N_(
                "No organisation with this unified social credit code is registered. "
                "Register it with the community office first."
            ),
            "credit_code",
        )
    if org["status"] != "active":
        raise CommerceError(N_("This organisation is closed."), "credit_code")
    if session.scalar(select(Merchant.id).where(Merchant.organisation_id == org["id"])):
        raise CommerceError(N_("This organisation has applied already."), "credit_code", status=409)
    merchant = Merchant(
        organisation_id=org["id"],
        name=_text(name, "name", 100, required=True),
        categories=_clean_codes(categories, CATEGORIES, "categories"),
        communities=_clean_codes(communities, community_codes, "communities"),
        opening_hours=_text(opening_hours, "opening_hours", 200),
        price_list=_text(price_list, "price_list", 2000, multiline=True),
        phone=_text(phone, "phone", 30),
        status="applied",
        applied_by_id=getattr(user, "id", None),
        created_at=utcnow(),
    )
    session.add(merchant)
    session.flush()
    actor_id, actor_name = _name(user)
    session.add(
        MerchantLog(
            merchant_id=merchant.id,
            action="applied",
            actor_id=actor_id,
            actor_name=actor_name,
            at=utcnow(),
        )
    )
    if user is not None and getattr(user, "id", None) is not None:
        bind_staff(session, user.id, merchant.id)
    session.flush()
    return merchant


def decide_merchant(
    session: Session,
    bus: Any,
    merchant_id: int,
    *,
    action: str,
    reason: str,
    actor: Any,
    settings: dict[str, Any] | None = None,
    complaint_id: int | None = None,
) -> Merchant:
    """A regulator approves, suspends, revokes, reinstates (approve) or warns a merchant,
    always with a reason. Suspension and revocation stop dispatch at once: the merchant
    drops out of the ranking and its pending offers go to the next merchant."""
    merchant = fetch(session, Merchant, merchant_id)
    if merchant is None:
        raise CommerceError(N_("No such merchant."), "merchant", status=404)
    if action not in DECISIONS:
        raise CommerceError(N_("Unknown decision."), "action")
    reason = _text(reason, "reason", 500, required=True, multiline=True)
    allowed_from, new_status = DECISIONS[action]
    if merchant.status not in allowed_from:
        raise CommerceError(
            N_("This decision does not apply to a merchant in this state."), "action", status=409
        )
    actor_id, actor_name = _name(actor)
    now = utcnow()
    if action == "warn":
        merchant.warnings += 1
    else:
        merchant.status = new_status
        merchant.status_reason = reason
        merchant.decided_by_id = actor_id
        merchant.decided_at = now
    session.add(
        MerchantLog(
            merchant_id=merchant.id,
            action=action,
            reason=reason,
            actor_id=actor_id,
            actor_name=actor_name,
            at=now,
        )
    )
    session.flush()
    if action in ("suspend", "revoke"):
        if action == "suspend":
            bus.publish(
                session,
                "commerce.merchant.suspended",
                {
                    "merchant_id": merchant.id,
                    "organisation_id": merchant.organisation_id,
                    "reason": reason,
                    "complaint_id": complaint_id,
                },
            )
        _withdraw_offers(session, bus, merchant, settings=settings, actor=actor)
    return merchant


def _withdraw_offers(
    session: Session, bus: Any, merchant: Merchant, *, settings: dict[str, Any] | None, actor: Any
) -> None:
    tickets = session.scalars(
        select(Ticket).where(Ticket.merchant_id == merchant.id, Ticket.state == "dispatched")
    ).all()
    for ticket in tickets:
        moved = session.execute(
            update(Ticket)
            .where(
                Ticket.id == ticket.id,
                Ticket.state == "dispatched",
                Ticket.merchant_id == merchant.id,
            )
            .values(state="received", merchant_id=None, accept_by=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not moved:
            continue
        _end_offer(session, ticket.id, merchant.id, "withdrawn")
        session.refresh(ticket)
        log_event(session, ticket, "withdrawn", actor=actor, note=merchant.name)
        _dispatch_next(session, bus, ticket, settings=settings, actor=None, mode="redispatch")


@dataclass
class Scorecard:
    merchant_id: int
    completed: int = 0
    rated: int = 0
    avg_rating: float | None = None
    on_time_rate: float | None = None
    complaint_rate: float | None = None
    complaints: int = 0
    load: int = 0
    score: float = 0.0
    flagged: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def scorecards(
    session: Session, merchant_ids: list[int], settings: dict[str, Any] | None = None
) -> dict[int, Scorecard]:
    """Completed tickets, average rating, on-time rate (completed by the SLA's due time),
    complaint rate (complaints per ticket taken), current load, the ranking score and the
    review flag, for several merchants in four grouped queries.

    Score: the average rating (``default_score`` until there is one) minus two points per
    complaint per ticket taken. Flagged for review below ``review_score`` once it rests on
    ``review_min_ratings`` ratings, or with a complaint rate above 20 %."""
    cfg = _settings(settings)
    cards = {mid: Scorecard(merchant_id=mid) for mid in merchant_ids}
    if not cards:
        return cards
    ids = list(cards)
    done = session.execute(
        select(
            Ticket.merchant_id,
            func.count(),
            func.sum(case((Ticket.completed_at <= Ticket.completion_due, 1), else_=0)),
            func.count(Ticket.rating),
            func.avg(Ticket.rating),
        )
        .where(Ticket.merchant_id.in_(ids), Ticket.state.in_(DONE_STATES))
        .group_by(Ticket.merchant_id)
    )
    for mid, n, on_time, rated, avg in done:
        card = cards[mid]
        card.completed, card.rated = n, rated
        card.on_time_rate = (on_time or 0) / n if n else None
        card.avg_rating = round(float(avg), 2) if avg is not None else None
    taken = dict(
        session.execute(
            select(Ticket.merchant_id, func.count())
            .where(
                Ticket.merchant_id.in_(ids),
                Ticket.state.in_(("accepted", "in_progress", *DONE_STATES)),
            )
            .group_by(Ticket.merchant_id)
        ).all()
    )
    load = dict(
        session.execute(
            select(Ticket.merchant_id, func.count())
            .where(Ticket.merchant_id.in_(ids), Ticket.state.in_(LOAD_STATES))
            .group_by(Ticket.merchant_id)
        ).all()
    )
    complaints = dict(
        session.execute(
            select(Complaint.merchant_id, func.count())
            .where(Complaint.merchant_id.in_(ids))
            .group_by(Complaint.merchant_id)
        ).all()
    )
    for mid, card in cards.items():
        card.load = load.get(mid, 0)
        card.complaints = complaints.get(mid, 0)
        n = taken.get(mid, 0)
        card.complaint_rate = card.complaints / n if n else None
        base = card.avg_rating if card.avg_rating is not None else float(cfg["default_score"])
        card.score = round(base - 2 * (card.complaint_rate or 0.0), 2)
        card.flagged = bool(
            (
                card.rated >= int(cfg["review_min_ratings"])
                and card.score < float(cfg["review_score"])
            )
            or (card.complaint_rate is not None and n >= 3 and card.complaint_rate > 0.2)
        )
    return cards


def scorecard(
    session: Session, merchant_id: int, settings: dict[str, Any] | None = None
) -> Scorecard:
    return scorecards(session, [merchant_id], settings)[merchant_id]


def merchants_query(*, status: str | None = None, category: str | None = None) -> Select:
    query = select(Merchant).order_by(Merchant.name, Merchant.id)
    if status:
        query = query.where(Merchant.status == status)
    return query


def directory(
    session: Session,
    *,
    category: str | None = None,
    community: str | None = None,
    settings: dict[str, Any] | None = None,
) -> list[tuple[Merchant, Scorecard]]:
    """Approved merchants for residents, best score first, filtered in Python by category
    and community (JSON lists; the directory is small)."""
    rows = [
        m
        for m in session.scalars(merchants_query(status="approved"))
        if (not category or category in (m.categories or []))
        and (not community or community in (m.communities or []))
    ]
    cards = scorecards(session, [m.id for m in rows], settings)
    return sorted(
        ((m, cards[m.id]) for m in rows), key=lambda mc: (-mc[1].score, mc[0].name, mc[0].id)
    )


def flagged_merchants(
    session: Session, settings: dict[str, Any] | None = None
) -> list[tuple[Merchant, Scorecard]]:
    rows = list(session.scalars(merchants_query(status="approved")))
    cards = scorecards(session, [m.id for m in rows], settings)
    return [(m, cards[m.id]) for m in rows if cards[m.id].flagged]


def merchant_log(session: Session, merchant_id: int) -> list[MerchantLog]:
    return list(
        session.scalars(
            select(MerchantLog)
            .where(MerchantLog.merchant_id == merchant_id)
            .order_by(MerchantLog.at, MerchantLog.id)
        )
    )


# ============================================================================ callers


def caller_facts(reader: Any, person_id: int, *, reveal: tuple[str, ...] = ()) -> dict[str, Any]:
    """What the hotline needs about a caller from the registry: the person (masked unless
    revealed), the household members, and whether they are elderly and living alone
    (aged 60 or more and the only active resident of their dwelling, or alone in their
    household when no dwelling is known)."""
    person = reader.person(person_id, reveal=list(reveal))
    household = reader.household(person_id) if person.get("household_id") else None
    alone = False
    if person.get("dwelling_id"):
        alone = len(reader.residents(dwelling_id=person["dwelling_id"])) == 1
    elif household is not None:
        alone = len([m for m in household["members"] if m["status"] == "active"]) == 1
    person["elderly"] = person.get("age_band") in ELDER_BANDS
    person["elderly_alone"] = person["elderly"] and alone
    return {"person": person, "household": household}


def lookup_caller(reader: Any, phone: str) -> list[dict[str, Any]]:
    """Registry persons with this phone number (the operator typed what the caller's
    number is), each with household and the elderly-alone flag."""
    phone = _text(phone, "phone", 30, required=True)
    page = reader.search(phone=phone, per_page=5)
    return [caller_facts(reader, item["id"]) for item in page.items]


# ============================================================================ tickets


def _due(cfg: dict[str, Any], start: datetime) -> tuple[datetime, datetime]:
    return (
        start + timedelta(hours=float(cfg["response_hours"])),
        start + timedelta(hours=float(cfg["completion_hours"])),
    )


def create_ticket(
    session: Session,
    bus: Any,
    *,
    channel: str,
    person_id: int | None,
    community: str | None,
    category: str | None,
    description: str,
    caller_address: str = "",
    caller_phone: str = "",
    caller_name: str = "",
    registered_address: bool = True,
    public_area: bool = False,
    elderly_alone: bool = False,
    actor: Any = None,
    settings: dict[str, Any] | None = None,
    state: str = "received",
) -> Ticket:
    """Open a ticket (any channel), start its SLA clocks, publish
    ``commerce.ticket.created`` and, if ``auto_dispatch``, offer it to the best merchant.

    A registry caller (``person_id``) is referred to by id: the merchant gets their
    registered address and phone through the reader. ``caller_*`` are only what the
    registry does not hold — another address or phone for this job, or everything about
    a caller who is not registered (who must then give a phone and an address).
    ``registered_address`` says whether the registry has an address for the person."""
    cfg = _settings(settings)
    if channel not in CHANNELS:
        raise CommerceError(N_("Unknown channel."), "channel")
    caller_address = _text(caller_address, "service_address", 300)
    caller_phone = _phone(caller_phone, "contact_phone")
    caller_name = _text(caller_name, "caller_name", 50)
    if person_id is None:
        if not caller_phone:
            raise CommerceError(N_("Give a phone number for the merchant to call."),
                                "contact_phone")
        if not caller_name:
            raise CommerceError(N_("Ask the caller for their name."), "caller_name")
    else:
        caller_name = ""  # the registry has it
    if state == "received":
        if category not in CATEGORIES:
            raise CommerceError(N_("Choose a service category."), "category")
        description = _text(description, "description", 2000, required=True, multiline=True)
        if not caller_address and (person_id is None or not registered_address):
            raise CommerceError(N_("Give the address for the service."), "service_address")
    else:
        description = _text(description, "description", 2000, multiline=True)
    now = utcnow()
    response_due, completion_due = _due(cfg, now)
    ticket = Ticket(
        channel=channel,
        person_id=person_id,
        community=community or None,
        category=category,
        description=description,
        caller_address=caller_address,
        caller_phone=caller_phone,
        caller_name=caller_name,
        public_area=bool(public_area),
        elderly_alone=bool(elderly_alone),
        state=state,
        response_due=response_due,
        completion_due=completion_due,
        created_by_id=getattr(actor, "id", None),
        created_at=now,
    )
    session.add(ticket)
    session.flush()
    log_event(session, ticket, "created", actor=actor)
    bus.publish(
        session,
        "commerce.ticket.created",
        {
            "ticket_id": ticket.id,
            "channel": channel,
            "category": category,
            "community": ticket.community,
            "person_id": person_id,
        },
    )
    if state == "received" and cfg["auto_dispatch"]:
        _dispatch_next(session, bus, ticket, settings=cfg, actor=actor, mode="auto")
    return ticket


def one_key_call(
    session: Session, bus: Any, reader: Any, *, user: Any, settings: dict[str, Any] | None = None
) -> Ticket:
    """The elderly resident's one-key call (一键呼叫): a ticket referring to their registry
    record, waiting for the operator to call back (the operator sees their phone in full
    for that step, :func:`contact_policy`). Nothing of theirs is copied. One open
    call-back per person is enough: pressing twice returns the same one."""
    person_id = getattr(user, "person_id", None)
    if person_id is None:
        raise CommerceError(
            N_("Verify your account first, so we know who and where you are."), "person", status=409
        )
    existing = session.scalar(
        select(Ticket).where(Ticket.person_id == person_id, Ticket.state == "callback")
    )
    if existing is not None:
        return existing
    person = caller_facts(reader, person_id)["person"]
    ticket = create_ticket(
        session,
        bus,
        channel="one_key",
        person_id=person_id,
        community=person.get("community"),
        category=None,
        description="",
        registered_address=bool(person.get("address")),
        elderly_alone=person["elderly_alone"],
        actor=user,
        settings=settings,
        state="callback",
    )
    log_event(session, ticket, "callback_requested", actor=user)
    return ticket


def complete_callback(
    session: Session,
    bus: Any,
    ticket_id: int,
    *,
    category: str,
    description: str,
    caller_address: str = "",
    caller_phone: str = "",
    registered_address: bool = True,
    public_area: bool = False,
    actor: Any = None,
    settings: dict[str, Any] | None = None,
) -> Ticket:
    """The operator called the resident back and fills in what they need: the ticket is
    received (its SLA clocks restart now) and dispatched like any other. An address or
    phone is given only when the work is somewhere else or the merchant should call
    another number (a governed copy); otherwise the registry's are used."""
    cfg = _settings(settings)
    ticket = get_ticket(session, ticket_id)
    if ticket.state != "callback":
        raise CommerceError(N_("This ticket is not waiting for a call-back."), "", status=409)
    if category not in CATEGORIES:
        raise CommerceError(N_("Choose a service category."), "category")
    ticket.category = category
    ticket.description = _text(description, "description", 2000, required=True, multiline=True)
    caller_address = _text(caller_address, "service_address", 300)
    if caller_address:
        ticket.caller_address = caller_address
    elif not ticket.caller_address and (ticket.person_id is None or not registered_address):
        raise CommerceError(N_("Give the address for the service."), "service_address")
    caller_phone = _phone(caller_phone, "contact_phone")
    if caller_phone:
        ticket.caller_phone = caller_phone
    ticket.public_area = bool(public_area)
    ticket.state = "received"
    ticket.response_due, ticket.completion_due = _due(cfg, utcnow())
    session.flush()
    log_event(session, ticket, "called_back", actor=actor)
    if cfg["auto_dispatch"]:
        _dispatch_next(session, bus, ticket, settings=cfg, actor=actor, mode="auto")
    return ticket


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = fetch(session, Ticket, ticket_id)
    if ticket is None:
        raise CommerceError(N_("No such ticket."), "ticket", status=404)
    return ticket


def rank_merchants(
    session: Session,
    category: str | None,
    community: str | None,
    *,
    exclude: set[int] | frozenset[int] = frozenset(),
    settings: dict[str, Any] | None = None,
) -> list[tuple[Merchant, Scorecard]]:
    """Dispatch candidates, best first: approved (hence not suspended or revoked)
    merchants of the category serving the community, by score, then load, then id."""
    rows = [
        m
        for m in session.scalars(select(Merchant).where(Merchant.status == "approved"))
        if m.id not in exclude
        and category in (m.categories or [])
        and (community is None or community in (m.communities or []))
    ]
    cards = scorecards(session, [m.id for m in rows], settings)
    return sorted(
        ((m, cards[m.id]) for m in rows), key=lambda mc: (-mc[1].score, mc[1].load, mc[0].id)
    )


def _offered(session: Session, ticket_id: int) -> set[int]:
    return set(session.scalars(select(Dispatch.merchant_id).where(Dispatch.ticket_id == ticket_id)))


def _end_offer(session: Session, ticket_id: int, merchant_id: int, outcome: str) -> None:
    session.execute(
        update(Dispatch)
        .where(
            Dispatch.ticket_id == ticket_id,
            Dispatch.merchant_id == merchant_id,
            Dispatch.outcome == "offered",
        )
        .values(outcome=outcome, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _offer(
    session: Session,
    bus: Any,
    ticket: Ticket,
    merchant: Merchant,
    *,
    mode: str,
    cfg: dict[str, Any],
    actor: Any,
) -> Ticket:
    now = utcnow()
    accept_by = now + timedelta(minutes=float(cfg["accept_timeout_minutes"]))
    moved = session.execute(
        update(Ticket)
        .where(Ticket.id == ticket.id, Ticket.state == "received")
        .values(state="dispatched", merchant_id=merchant.id, dispatched_at=now, accept_by=accept_by)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        raise CommerceError(N_("This ticket cannot be dispatched now."), "", status=409)
    session.add(
        Dispatch(
            ticket_id=ticket.id,
            merchant_id=merchant.id,
            mode=mode,
            outcome="offered",
            offered_at=now,
        )
    )
    session.flush()
    session.refresh(ticket)
    log_event(session, ticket, "dispatched", actor=actor, note=merchant.name)
    bus.publish(
        session,
        "commerce.ticket.dispatched",
        {
            "ticket_id": ticket.id,
            "merchant_id": merchant.id,
            "mode": mode,
            "accept_by": accept_by.isoformat(),
        },
    )
    return ticket


def _dispatch_next(
    session: Session, bus: Any, ticket: Ticket, *, settings: dict | None, actor: Any, mode: str
) -> Merchant | None:
    """Offer a received ticket to the best merchant not offered it yet; None (and a
    timeline note for the operator) when nobody is left."""
    cfg = _settings(settings)
    ranked = rank_merchants(
        session,
        ticket.category,
        ticket.community,
        exclude=_offered(session, ticket.id),
        settings=cfg,
    )
    if not ranked:
        log_event(session, ticket, "no_merchant", actor=None)
        return None
    merchant = ranked[0][0]
    _offer(session, bus, ticket, merchant, mode=mode, cfg=cfg, actor=actor)
    return merchant


def dispatch(
    session: Session,
    bus: Any,
    ticket_id: int,
    *,
    merchant_id: int | None = None,
    actor: Any = None,
    settings: dict[str, Any] | None = None,
) -> Ticket:
    """Dispatch a received ticket: to the merchant the operator chose (it must be an
    approved candidate for the ticket), or to the best-ranked one."""
    cfg = _settings(settings)
    ticket = get_ticket(session, ticket_id)
    if ticket.state != "received":
        raise CommerceError(N_("Only a received ticket can be dispatched."), "", status=409)
    if merchant_id is None:
        if _dispatch_next(session, bus, ticket, settings=cfg, actor=actor, mode="auto") is None:
            raise CommerceError(
                N_("No approved merchant serves this category here."), "merchant_id", status=409
            )
        return ticket
    candidates = {
        m.id: m for m, _ in rank_merchants(session, ticket.category, ticket.community, settings=cfg)
    }
    if merchant_id not in candidates:
        raise CommerceError(N_("This merchant cannot take this ticket."), "merchant_id", status=409)
    return _offer(
        session, bus, ticket, candidates[merchant_id], mode="manual", cfg=cfg, actor=actor
    )


def accept(
    session: Session, bus: Any, ticket_id: int, *, merchant_id: int, actor: Any = None
) -> Ticket:
    """The merchant holding the offer accepts. One conditional UPDATE decides: if another
    merchant won, or the offer moved on, the row count is 0 and this is a 409."""
    now = utcnow()
    won = session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket_id, Ticket.state == "dispatched", Ticket.merchant_id == merchant_id
        )
        .values(state="accepted", accepted_at=now, accept_by=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        raise CommerceError(N_("This ticket is no longer offered to you."), "", status=409)
    _end_offer(session, ticket_id, merchant_id, "accepted")
    session.flush()
    ticket = get_ticket(session, ticket_id)
    session.refresh(ticket)
    merchant = fetch(session, Merchant, merchant_id)
    log_event(session, ticket, "accepted", actor=actor, note=merchant.name if merchant else "")
    bus.publish(
        session, "commerce.ticket.accepted", {"ticket_id": ticket_id, "merchant_id": merchant_id}
    )
    return ticket


def decline(
    session: Session,
    bus: Any,
    ticket_id: int,
    *,
    merchant_id: int,
    reason: str = "",
    actor: Any = None,
    settings: dict[str, Any] | None = None,
) -> Ticket:
    """The merchant holding the offer declines; the next merchant gets it."""
    reason = _text(reason, "reason", 500)
    moved = session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket_id, Ticket.state == "dispatched", Ticket.merchant_id == merchant_id
        )
        .values(state="received", merchant_id=None, accept_by=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if moved != 1:
        raise CommerceError(N_("This ticket is no longer offered to you."), "", status=409)
    _end_offer(session, ticket_id, merchant_id, "declined")
    ticket = get_ticket(session, ticket_id)
    session.refresh(ticket)
    log_event(session, ticket, "declined", actor=actor, note=reason)
    _dispatch_next(session, bus, ticket, settings=settings, actor=None, mode="redispatch")
    return ticket


def redispatch_expired(
    session: Session,
    bus: Any,
    *,
    settings: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> int:
    """Offers whose ``accept_by`` passed go to the next merchant (the CLI
    ``shequ commerce redispatch`` and the queue pages run this). Each expiry is its own
    conditional UPDATE, so a merchant accepting at the same moment either wins or finds
    the offer gone — never both."""
    now = now or utcnow()
    moved = 0
    rows = session.execute(
        select(Ticket.id, Ticket.merchant_id).where(
            Ticket.state == "dispatched", Ticket.accept_by < now
        )
    ).all()
    for ticket_id, merchant_id in rows:
        n = session.execute(
            update(Ticket)
            .where(
                Ticket.id == ticket_id,
                Ticket.state == "dispatched",
                Ticket.merchant_id == merchant_id,
                Ticket.accept_by < now,
            )
            .values(state="received", merchant_id=None, accept_by=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        if n != 1:
            continue
        _end_offer(session, ticket_id, merchant_id, "expired")
        ticket = get_ticket(session, ticket_id)
        session.refresh(ticket)
        log_event(session, ticket, "expired")
        _dispatch_next(session, bus, ticket, settings=settings, actor=None, mode="redispatch")
        moved += 1
    session.flush()
    return moved


def _held(session: Session, ticket_id: int, merchant_id: int) -> Ticket:
    ticket = get_ticket(session, ticket_id)
    if ticket.merchant_id != merchant_id:
        raise CommerceError(N_("No such ticket."), "ticket", status=404)
    return ticket


def start_work(session: Session, ticket_id: int, *, merchant_id: int, actor: Any = None) -> Ticket:
    ticket = _held(session, ticket_id, merchant_id)
    if ticket.state != "accepted":
        raise CommerceError(N_("Only an accepted ticket can be started."), "", status=409)
    ticket.state, ticket.started_at = "in_progress", utcnow()
    log_event(session, ticket, "started", actor=actor)
    session.flush()
    return ticket


def parse_price(value: Any) -> Decimal:
    try:
        price = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CommerceError(N_("Enter the price in yuan, e.g. 120.50."), "final_price") from None
    if not price.is_finite() or price < 0 or price > Decimal("1000000"):
        raise CommerceError(N_("Enter the price in yuan, e.g. 120.50."), "final_price")
    return price.quantize(Decimal("0.01"))


def public_works_payload(
    session: Session, ticket: Ticket, merchant: Merchant | None
) -> dict[str, Any]:
    """What ``commerce.public_works.completed`` carries (self_governance turns it into a
    public notice): never the resident's name, phone or flat."""
    from plugins.commerce import info

    community_id = None
    if ticket.community:
        reader = RegistryReader(session, plugin=info.id, scopes=info.data_scopes)
        # a community removed from the registry: publish without it
        community_id = next(
            (c["id"] for c in reader.communities() if c["code"] == ticket.community), None
        )
    en, zh = CATEGORIES.get(ticket.category or "other", CATEGORIES["other"])
    done = ticket.completed_at.strftime("%Y-%m-%d") if ticket.completed_at else ""
    return {
        "ticket_id": ticket.id,
        "community_id": community_id,
        "title": f"Public area work completed: {en}",
        "title_zh": f"公共区域服务已完成：{zh}",
        "body": (
            f"{ticket.description}\n\n"
            f"{merchant.name if merchant else ''} · {done} · "
            f"工单 / ticket #{ticket.id}"
        ).strip()[:2000],
    }


def complete(
    session: Session,
    bus: Any,
    ticket_id: int,
    *,
    merchant_id: int,
    final_price: Any,
    note: str = "",
    actor: Any = None,
) -> Ticket:
    """The merchant reports the work done with its final price; publishes
    ``commerce.ticket.completed`` and, for a public-area ticket, also
    ``commerce.public_works.completed``."""
    ticket = _held(session, ticket_id, merchant_id)
    if ticket.state not in ("accepted", "in_progress"):
        raise CommerceError(N_("Only work in progress can be completed."), "", status=409)
    price = parse_price(final_price)
    note = _text(note, "note", 500, multiline=True)
    now = utcnow()
    ticket.state, ticket.completed_at, ticket.final_price = "completed", now, price
    ticket.closed_at = now
    if ticket.started_at is None:
        ticket.started_at = now
    log_event(session, ticket, "completed", actor=actor, note=f"¥{price} {note}".strip())
    session.flush()
    bus.publish(
        session,
        "commerce.ticket.completed",
        {
            "ticket_id": ticket.id,
            "merchant_id": merchant_id,
            "final_price": str(price),
            "on_time": bool(ticket.completion_due is None or now <= ticket.completion_due),
        },
    )
    if ticket.public_area:
        bus.publish(
            session,
            "commerce.public_works.completed",
            public_works_payload(session, ticket, fetch(session, Merchant, merchant_id)),
        )
    return ticket


def confirm(session: Session, ticket_id: int, *, actor: Any = None) -> Ticket:
    """The resident confirms the work was done."""
    ticket = get_ticket(session, ticket_id)
    if ticket.state != "completed":
        raise CommerceError(N_("Only completed work can be confirmed."), "", status=409)
    ticket.state, ticket.confirmed_at = "confirmed", utcnow()
    log_event(session, ticket, "confirmed", actor=actor)
    session.flush()
    return ticket


def rate(
    session: Session,
    bus: Any,
    ticket_id: int,
    *,
    rating: Any,
    comment: str = "",
    actor: Any = None,
    via: str = "resident",
) -> Ticket:
    """The follow-up (回访): a 1–5 rating and a comment, from the resident on the web or
    recorded by the operator after a call-back. Rating completed work confirms it."""
    ticket = get_ticket(session, ticket_id)
    if ticket.state not in ("completed", "confirmed"):
        raise CommerceError(N_("Only completed work can be rated, and only once."), "", status=409)
    try:
        value = int(rating)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= 5:
        raise CommerceError(N_("Choose a rating from 1 to 5."), "rating")
    comment = _text(comment, "comment", 500, multiline=True)
    now = utcnow()
    if ticket.confirmed_at is None:
        ticket.confirmed_at = now
    ticket.state, ticket.rating, ticket.rating_comment, ticket.rated_at = (
        "rated",
        value,
        comment,
        now,
    )
    log_event(session, ticket, "rated", actor=actor, note=f"{value}/5 ({via}) {comment}".strip())
    session.flush()
    bus.publish(
        session,
        "commerce.ticket.rated",
        {"ticket_id": ticket.id, "merchant_id": ticket.merchant_id, "rating": value, "via": via},
    )
    return ticket


def cancel(session: Session, ticket_id: int, *, reason: str, actor: Any = None) -> Ticket:
    ticket = get_ticket(session, ticket_id)
    if ticket.state not in OPEN_STATES:
        raise CommerceError(N_("Only an open ticket can be cancelled."), "", status=409)
    reason = _text(reason, "reason", 500, required=True)
    if ticket.state == "dispatched" and ticket.merchant_id:
        _end_offer(session, ticket.id, ticket.merchant_id, "withdrawn")
    ticket.state, ticket.accept_by, ticket.closed_at = "cancelled", None, utcnow()
    log_event(session, ticket, "cancelled", actor=actor, note=reason)
    session.flush()
    return ticket


# ============================================================================ regulation


def complain(session: Session, ticket_id: int, *, text: str, actor: Any = None) -> Complaint:
    """A resident complains about the merchant who handled their ticket."""
    ticket = get_ticket(session, ticket_id)
    if ticket.merchant_id is None or ticket.state in ("received", "dispatched", "callback"):
        raise CommerceError(
            N_("You can complain once a merchant has taken the ticket."), "", status=409
        )
    complaint = Complaint(
        ticket_id=ticket.id,
        merchant_id=ticket.merchant_id,
        person_id=ticket.person_id,
        text=_text(text, "text", 1000, required=True, multiline=True),
        created_at=utcnow(),
    )
    session.add(complaint)
    session.flush()
    log_event(session, ticket, "complaint", actor=actor)
    return complaint


def decide_complaint(
    session: Session,
    bus: Any,
    complaint_id: int,
    *,
    action: str,
    note: str,
    actor: Any,
    settings: dict[str, Any] | None = None,
) -> Complaint:
    """The regulator's answer: dismiss, warn the merchant, or suspend it (which stops
    dispatch at once)."""
    complaint = fetch(session, Complaint, complaint_id)
    if complaint is None:
        raise CommerceError(N_("No such complaint."), "complaint", status=404)
    if complaint.status != "open":
        raise CommerceError(N_("This complaint was decided already."), "", status=409)
    if action not in ("dismiss", "warn", "suspend"):
        raise CommerceError(N_("Unknown decision."), "action")
    note = _text(note, "note", 500, required=True, multiline=True)
    if action in ("warn", "suspend"):
        decide_merchant(
            session,
            bus,
            complaint.merchant_id,
            action=action,
            reason=note,
            actor=actor,
            settings=settings,
            complaint_id=complaint.id,
        )
    complaint.status = {"dismiss": "dismissed", "warn": "warned", "suspend": "suspended"}[action]
    complaint.decision_note = note
    complaint.decided_by_id = getattr(actor, "id", None)
    complaint.decided_at = utcnow()
    session.flush()
    return complaint


# ============================================================================ queries


def tickets_query(
    *,
    state: str | None = None,
    overdue: bool = False,
    person_id: int | None = None,
    merchant_id: int | None = None,
    communities: set[str] | frozenset[str] | None = None,
    now: datetime | None = None,
) -> Select:
    """Tickets newest first. ``communities`` (a place-scoped viewer's, see
    :func:`viewer_communities`) keeps only tickets of those communities; ``None`` is all."""
    query = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    if communities is not None:
        query = query.where(Ticket.community.in_(sorted(communities) or ["-"]))
    if state:
        query = query.where(Ticket.state == state)
    if person_id is not None:
        query = query.where(Ticket.person_id == person_id)
    if merchant_id is not None:
        query = query.where(Ticket.merchant_id == merchant_id)
    if overdue:
        now = now or utcnow()
        query = query.where(
            or_(
                (Ticket.state.in_(("callback", "received", "dispatched")))
                & (Ticket.response_due < now),
                (Ticket.state.in_(OPEN_STATES)) & (Ticket.completion_due < now),
            )
        )
    return query


def is_overdue(ticket: Ticket, now: datetime | None = None) -> bool:
    now = now or utcnow()
    if (
        ticket.state in ("callback", "received", "dispatched")
        and ticket.response_due
        and ticket.response_due < now
    ):
        return True
    return bool(
        ticket.state in OPEN_STATES and ticket.completion_due and ticket.completion_due < now
    )


def timeline(session: Session, ticket_id: int) -> list[TicketEvent]:
    return list(
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id)
            .order_by(TicketEvent.at, TicketEvent.id)
        )
    )


def dispatch_log(session: Session, ticket_id: int) -> list[Dispatch]:
    return list(
        session.scalars(
            select(Dispatch)
            .where(Dispatch.ticket_id == ticket_id)
            .order_by(Dispatch.offered_at, Dispatch.id)
        )
    )


def merchant_view(ticket: Ticket, contact: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a merchant sees of a ticket: the job, and the contact as :func:`contact_view`
    shows it to them (the address down to the building while offered or once done; name,
    address and phone in full only while they hold it open). Never the registry person,
    the household or flags."""
    contact = contact or {}
    return {
        "id": ticket.id,
        "state": ticket.state,
        "category": ticket.category,
        "description": ticket.description,
        "community": ticket.community,
        "public_area": ticket.public_area,
        "service_address": contact.get("address") or "",
        "contact_name": contact.get("name") or "",
        "contact_phone": contact.get("phone") or "",
        "contact_full": contact.get("full") or [],
        "accept_by": ticket.accept_by,
        "created_at": ticket.created_at,
        "completion_due": ticket.completion_due,
        "final_price": ticket.final_price,
        "rating": ticket.rating,
    }


# ============================================================================ personal data

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
    pairs = {(getattr(sc, "kind", None), getattr(sc, "code", None))
             for sc in (getattr(viewer, "scopes", None) or ())}
    pairs |= {tuple(sc) for sc in (getattr(viewer, "scopes", None) or ())
              if isinstance(sc, tuple)}
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
        if (merchant_id is not None and ticket.merchant_id == merchant_id
                and ticket.state in HELD_STATES):
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
        "name": "", "phone": "", "address": "", "full": [],
        "in_registry": ticket.person_id is not None,
        "erased": ticket.caller_erased_at is not None,
        "out_of_place": False,
    }
    copies = {"name": ticket.caller_name, "phone": ticket.caller_phone,
              "address": ticket.caller_address}
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
        _log_copies(session, ticket, actor=actor, purpose=purpose,
                    full=[f for f in copied if f in full],
                    masked=[f for f in copied if f not in full], role=role)
    return out


def _log_copies(session: Session, ticket: Ticket, *, actor: Any, purpose: str,
                full: list[str], masked: list[str], role: str) -> None:
    from plugins.commerce import info

    if ticket.person_id is not None:
        for fields_, is_masked in ((full, False), (masked, True)):
            if fields_:
                log_person_access(session, person_id=ticket.person_id, fields=fields_,
                                  purpose=purpose, plugin=info.id, actor=actor,
                                  masked=is_masked)
        return
    who = getattr(actor, "actor", None) or actor
    log_audit(session, "commerce.caller_data.shown", actor=who,
              target_type="commerce_ticket", target_id=ticket.id,
              detail={"purpose": purpose, "role": role, "full": sorted(full),
                      "masked": sorted(masked)})


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
        log_audit(session, "commerce.caller_data.erased", target_type="commerce_ticket",
                  detail={"tickets": len(rows), "retention_days": days})
    session.flush()
    return len(rows)


def hours_between(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return (b - a).total_seconds() / 3600


@dataclass
class Stats:
    total: int
    by_category: list[tuple[str, int]]
    by_state: list[tuple[str, int]]
    ratings: list[tuple[str, int]]
    avg_response_hours: float | None
    avg_completion_hours: float | None
    avg_rating: float | None
    overdue: int
    #: (category, average hours to accept, to complete, average rating) per category.
    by_category_times: list[tuple[str, float | None, float | None, float | None]]


def _avg(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def statistics(session: Session, now: datetime | None = None) -> Stats:
    """Tickets by category and state, response and completion times, satisfaction."""
    now = now or utcnow()
    by_cat = Counter()
    by_state = Counter()
    ratings: Counter = Counter()
    resp, comp = [], []
    per_cat: dict[str, tuple[list, list, list]] = defaultdict(lambda: ([], [], []))
    rows = session.execute(
        select(
            Ticket.category,
            Ticket.state,
            Ticket.created_at,
            Ticket.accepted_at,
            Ticket.completed_at,
            Ticket.rating,
        )
    )
    total = 0
    for cat, state, created, accepted, completed, rating in rows:
        total += 1
        by_cat[cat or "other"] += 1
        by_state[state] += 1
        cat_resp, cat_comp, cat_rating = per_cat[cat or "other"]
        if rating:
            ratings[str(rating)] += 1
            cat_rating.append(rating)
        r = hours_between(created, accepted)
        if r is not None:
            resp.append(r)
            cat_resp.append(r)
        c = hours_between(created, completed)
        if c is not None:
            comp.append(c)
            cat_comp.append(c)
    rated = sum(ratings.values())
    overdue = (
        session.scalar(
            select(func.count()).select_from(
                tickets_query(overdue=True, now=now).order_by(None).subquery()
            )
        )
        or 0
    )
    return Stats(
        total=total,
        by_category=[(k, by_cat.get(k, 0)) for k in CATEGORIES if by_cat.get(k)],
        by_state=[(k, by_state.get(k, 0)) for k in STATES if by_state.get(k)],
        ratings=[(str(k), ratings.get(str(k), 0)) for k in range(5, 0, -1)],
        avg_response_hours=round(sum(resp) / len(resp), 2) if resp else None,
        avg_completion_hours=round(sum(comp) / len(comp), 2) if comp else None,
        avg_rating=round(sum(int(k) * n for k, n in ratings.items()) / rated, 2) if rated else None,
        overdue=overdue,
        by_category_times=[
            (k, _avg(per_cat[k][0]), _avg(per_cat[k][1]), _avg(per_cat[k][2]))
            for k in CATEGORIES
            if k in per_cat
        ],
    )


# ============================================================================ events in


def _flag_open(session: Session, person_id: int, flag: str, note: str) -> int:
    """Mark a person's open tickets (idempotent: a flag already set is not set again)."""
    n = 0
    for ticket in session.scalars(
        select(Ticket).where(Ticket.person_id == person_id, Ticket.state.in_(OPEN_STATES))
    ):
        if ticket.flag == flag:
            continue
        ticket.flag = flag
        log_event(session, ticket, f"resident_{flag}", note=note)
        n += 1
    session.flush()
    return n


def on_person_moved(event: Any, session: Session) -> None:
    """``registry.person.moved``: the service address on an open ticket may be stale."""
    p = event.payload
    _flag_open(
        session,
        int(p["person_id"]),
        "moved",
        f"{p.get('from_community') or '—'} → {p.get('to_community') or '—'}",
    )


def on_person_deceased(event: Any, session: Session) -> None:
    """``registry.person.deceased``: the operator must look at open tickets."""
    p = event.payload
    _flag_open(session, int(p["person_id"]), "deceased", str(p.get("died_on") or ""))


def tickets_by_merchant(session: Session, ids: list[int]) -> dict[int, Merchant]:
    if not ids:
        return {}
    return {m.id: m for m in session.scalars(select(Merchant).where(Merchant.id.in_(ids)))}


def counts_by_state(session: Session, merchant_id: int) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for state, n in session.execute(
        select(Ticket.state, func.count())
        .where(Ticket.merchant_id == merchant_id)
        .group_by(Ticket.state)
    ):
        out[state] = n
    return dict(out)
