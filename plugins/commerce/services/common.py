"""What every part of the hotline's rules shares: the vocabularies (categories, states,
channels, decisions), the settings' defaults, :class:`CommerceError`, the input checks and
the ticket timeline. Kept apart so the seams below depend on it and not on each other."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import MAX_ID, N_, RuleError, local_zone, utcnow
from plugins.commerce.models import Ticket, TicketEvent

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


#: What a regulator did to a merchant (the merchant log's ``action``), as words.
MERCHANT_ACTIONS: dict[str, tuple[str, str]] = {
    "applied": ("Applied to join", "申请加盟"),
    "approve": ("Approved", "批准"),
    "suspend": ("Suspended", "暂停"),
    "revoke": ("Revoked", "撤销"),
    "warn": ("Warned", "警告"),
}

#: How an offer to a merchant ended (``Dispatch.outcome``).
OFFER_OUTCOMES: dict[str, tuple[str, str]] = {
    "offered": ("Waiting for the merchant", "等待商户接单"),
    "accepted": ("Accepted", "已接单"),
    "declined": ("Declined", "已拒绝"),
    "expired": ("Not accepted in time", "超时未接单"),
    "withdrawn": ("Withdrawn", "已撤回"),
}

#: A complaint's state (``Complaint.status``).
COMPLAINT_STATES: dict[str, tuple[str, str]] = {
    "open": ("Open", "待处理"),
    "dismissed": ("Dismissed", "不予采纳"),
    "warned": ("Merchant warned", "已警告商户"),
    "suspended": ("Merchant suspended", "已暂停商户"),
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


class CommerceError(RuleError):
    """A hotline rule was broken. ``field`` names the input (or ``""``); ``status`` is what
    the API answers: 422 for input, 409 for the ticket's or merchant's state, 404 for
    objects (``raise CommerceError(N_("No such ticket."), "ticket", status=404)``)."""

    def field_texts(self) -> dict[str, list[str]]:
        """As :meth:`RuleError.field_texts`, but a refusal of the request as a whole is
        named ``"_"``, as the hotline's API has always answered it."""
        if self.errors:
            return super().field_texts()
        return {self.field or "_": [self.text()]}


def fetch(session: Session, model: type, ident: int | None) -> Any:
    """``session.get`` for ids from URLs and bodies: an id no column can hold (the int
    converter accepts any size) is simply not found, rather than a database error."""
    if ident is None or not 0 < int(ident) <= MAX_ID:
        return None
    return session.get(model, int(ident))


def duration_words(hours: float | None) -> tuple[str, str]:
    """A duration in natural units, English and Chinese: 0.25 hours is "15 min" /
    "15分钟", 2.5 is "2 h 30 min" / "2小时30分钟", 50 is "2 days 2 h" / "2天2小时" — never
    "0.25 hours". None is a dash."""
    if hours is None:
        return ("—", "—")
    minutes = max(0, round(float(hours) * 60))
    days, rest = divmod(minutes, 1440)
    h, m = divmod(rest, 60)
    if days:
        en = f"{days} day" if days == 1 else f"{days} days"
        return ((f"{en} {h} h", f"{days}天{h}小时") if h else (en, f"{days}天"))
    if not h:
        return (f"{m} min", f"{m}分钟")
    if not m:
        return ((f"{h} hour" if h == 1 else f"{h} hours"), f"{h}小时")
    return (f"{h} h {m} min", f"{h}小时{m}分钟")


def local_date(at: datetime | None) -> str:
    """``at``'s day in the configured time zone (``[app] timezone``), as 2026-12-08: work
    finished at 23:30 UTC was finished on the next day in Beijing. Outside an app (a bare
    service call) the day is the toolkit's documented default zone's."""
    if at is None:
        return ""
    return at.astimezone(local_zone()).date().isoformat()


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


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = fetch(session, Ticket, ticket_id)
    if ticket is None:
        raise CommerceError(N_("No such ticket."), "ticket", status=404)
    return ticket
