"""Notices to many residents: who a notice reaches, sending it, delivering it in batches,
and the delivery report.

Audience. A notice names a place — a building, a grid, a community — or a thematic group
(registry criteria such as an age band or sex within a community). Its residents are the
registry persons whose *current* place is there (``Person.dwelling_id`` / ``grid_id`` /
``community_id``, kept in step with the open residence by the registry's services) and
whose status is ``active``: someone who moved out, moved away or died is not a resident.
Their accounts are the active accounts *verified* as those persons (``User.person_id`` and
``verified_at``): an unverified account claims a person, it has not proved it.

Scope. Staff may only address places inside their assignments (``identity_user_scope``,
deny by default; in the assisted channel the agent's): a community needs the community, a
grid its grid or community, a building its grid or community. The persons counted are also
cut to the sender's place filter, the one the registry's search uses.

Sending. :func:`send_notice` writes one delivery per account and channel in the request
(in-app always; SMS to a proved phone and e-mail to a proved address, unless the account
opted out of non-urgent notices) and publishes ``core.notice.queued``; the request then
returns. The subscriber :func:`deliver_batch` handles at most :data:`BATCH_SIZE` pending
deliveries per run and publishes the event again while any are left, so a notice to a
whole community is spread over many short transactions and the SMS gateway sees a steady
trickle rather than a burst; the notice page shows the progress (``done`` of ``total``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import ColumnElement, and_, func, insert, select
from sqlalchemy.orm import Session

from core.audit.services import log_access, log_audit
from core.db import local_today, utcnow
from core.identity.models import OutboundMessage, User
from core.identity.notifications import Message, notify, queue_message
from core.notices.models import (
    AUDIENCE_KINDS,
    URGENCIES,
    Notice,
    NoticeDelivery,
)
from core.registry import codes
from core.registry.models import Building, Community, Dwelling, Grid, Person, Unit
from core.registry.present import actor_scopes, mask_name
from core.registry.search import AGE_BANDS, _years_ago, place_filter
from core.rules import MAX_ID, N_, RuleError

#: Deliveries handled per run of the batch subscriber. A constant, not a setting: it bounds
#: one transaction's length (and the SMS gateway's burst), and 200 in-app rows plus their
#: outbox messages commit in well under a second on either database.
BATCH_SIZE = 200
#: The event that asks for the next batch of a notice's deliveries.
QUEUED_EVENT = "core.notice.queued"
#: The purpose the delivery report writes to each listed resident's access log (a msgid).
REPORT_PURPOSE = N_("Delivery report of a notice")
#: Recipients listed on one report page.
REPORT_LIMIT = 500
TITLE_MAX = 200
BODY_MAX = 2000


class NoticeError(RuleError):
    """A notice was refused: bad input (422), a place outside the sender's scope (403), a
    notice the reader may not see (404)."""


class NoticeQueued(Schema):
    notice_id = fields.Integer(required=True)


@dataclass(frozen=True)
class Audience:
    """What a notice is addressed to. ``code`` is a community or grid code (a group's
    community); ``building_id`` a building; ``criteria`` a group's registry criteria."""

    kind: str
    code: str = ""
    building_id: int | None = None
    criteria: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Place:
    """A resolved audience: where, its label, and the condition on ``Person``."""

    audience: Audience
    label: str
    community: str
    grid: str
    condition: ColumnElement[bool]


@dataclass(frozen=True)
class Preview:
    """The counts shown before sending."""

    residents: int
    accounts: int
    sms: int
    email: int
    opted_out: int
    #: Accounts that get an SMS or e-mail once the opt-outs are applied (this urgency).
    external: int
    urgency: str
    label: str


# ------------------------------------------------------------------------------ audience


def audience_from(data: dict[str, Any]) -> Audience:
    """An :class:`Audience` from a form or API body: ``kind``, ``code``, ``building_id``,
    ``age_band``, ``sex``. Raises :class:`NoticeError` (422) naming the field."""
    kind = str(data.get("kind") or "")
    if kind not in AUDIENCE_KINDS:
        raise NoticeError(N_("Choose who the notice is for."), "kind")
    criteria: dict[str, str] = {}
    for key in ("age_band", "sex"):
        value = str(data.get(key) or "")
        if value:
            criteria[key] = value
    if "age_band" in criteria and criteria["age_band"] not in AGE_BANDS:
        raise NoticeError(N_("Unknown age band."), "age_band")
    if "sex" in criteria and criteria["sex"] not in codes.SEXES:
        raise NoticeError(N_("Unknown sex code."), "sex")
    if kind == "group":
        if not criteria:
            raise NoticeError(N_("A group needs an age band or a sex."), "age_band")
    elif criteria:
        raise NoticeError(N_("Age band and sex choose a group within a community."),
                          "age_band")
    if kind == "building":
        raw = data.get("building_id")
        try:
            building_id = int(str(raw))  # None and junk alike end in the message below
        except (TypeError, ValueError):
            raise NoticeError(N_("Choose a building."), "building_id") from None
        return Audience(kind, building_id=building_id)
    code = str(data.get("code") or "").strip()
    if not code:
        raise NoticeError(N_("Choose a place."), "code")
    return Audience(kind, code=code, criteria=criteria)


def _covers(actor: Any, *, community: str, grid: str = "", grid_only: bool = False) -> bool:
    """Whether ``actor``'s assignments cover the place (deny by default). A community
    audience needs the community itself (``grid_only=False`` and no grid)."""
    if actor is None:
        return True  # a system caller (CLI, job)
    scopes = actor_scopes(actor)
    if ("all", "") in scopes or ("community", community) in scopes:
        return True
    return bool(grid) and not grid_only and ("grid", grid) in scopes


def resolve(session: Session, audience: Audience, actor: Any) -> Place:
    """The place of ``audience``, checked against ``actor``'s scope: 404 for a place that
    does not exist, 403 for one outside the assignment."""
    missing = NoticeError(N_("No such place."), "code", status=404)
    refused = NoticeError(N_("You may only send notices to places you are assigned to."),
                          "code", status=403)
    if audience.kind == "building":
        row = session.execute(
            select(Building, Community.code, Grid.code)
            .join(Community, Community.id == Building.community_id)
            .outerjoin(Grid, Grid.id == Building.grid_id)
            .where(Building.id == audience.building_id)
        ).first() if audience.building_id and 0 < audience.building_id <= MAX_ID else None
        if row is None:
            raise NoticeError(N_("No such place."), "building_id", status=404)
        building, ccode, gcode = row
        if not _covers(actor, community=ccode, grid=gcode or ""):
            raise NoticeError(refused.message, "building_id", status=403)
        dwellings = select(Dwelling.id).join(Unit, Unit.id == Dwelling.unit_id).where(
            Unit.building_id == building.id)
        label = " ".join(p for p in (building.estate, building.name) if p)
        return Place(audience, label, ccode, gcode or "", Person.dwelling_id.in_(dwellings))
    if audience.kind == "grid":
        grid = session.scalar(select(Grid).where(Grid.code == audience.code))
        if grid is None:
            raise missing
        if not _covers(actor, community=grid.community.code, grid=grid.code):
            raise refused
        return Place(audience, grid.name, grid.community.code, grid.code,
                     Person.grid_id == grid.id)
    community = session.scalar(select(Community).where(Community.code == audience.code))
    if community is None:
        raise missing
    if not _covers(actor, community=community.code, grid_only=True):
        raise refused
    cond: ColumnElement[bool] = Person.community_id == community.id
    label = community.name
    if audience.kind == "group":
        extra = []
        band = audience.criteria.get("age_band")
        if band:
            low, high = AGE_BANDS[band]
            today = local_today()
            if low is not None:
                extra.append(Person.birth_date <= _years_ago(today, low))
            if high is not None:
                extra.append(Person.birth_date > _years_ago(today, high + 1))
        if audience.criteria.get("sex"):
            extra.append(Person.sex == audience.criteria["sex"])
        cond = and_(cond, *extra)
    return Place(audience, label, community.code, "", cond)


def _person_filter(session: Session, place: Place, actor: Any) -> list[ColumnElement[bool]]:
    where = [place.condition, Person.status == "active"]
    staff = place_filter(session, actor)
    if staff is not None:
        where.append(staff)
    return where


def _accounts(session: Session, place: Place, actor: Any) -> Any:
    """The query of the audience's verified, active accounts (rows of ``User``)."""
    persons = select(Person.id).where(*_person_filter(session, place, actor))
    return select(User).where(
        User.person_id.in_(persons), User.verified_at.is_not(None), User.is_active.is_(True)
    ).order_by(User.id)


def preview(session: Session, audience: Audience, staff: Any, *,
            urgency: str = "normal") -> Preview:
    """How many residents, accounts, reachable phones and addresses, and opt-outs the
    audience has — shown before sending, so a worker sees "38 residents, 21 accounts"
    before 21 phones buzz. Counts only: nobody is shown, so nothing is access-logged."""
    if urgency not in URGENCIES:
        raise NoticeError(N_("Choose normal or urgent."), "urgency")
    place = resolve(session, audience, staff)
    residents = session.scalar(
        select(func.count()).select_from(Person).where(*_person_filter(session, place, staff))
    ) or 0
    users = list(session.scalars(_accounts(session, place, staff)))
    sms = sum(1 for u in users if _phone(u))
    email = sum(1 for u in users if _email(u))
    opted = sum(1 for u in users if u.notices_opt_out)
    external = sum(1 for u in users if (_phone(u) or _email(u))
                   and (urgency == "urgent" or not u.notices_opt_out))
    return Preview(residents, len(users), sms, email, opted, external, urgency, place.label)


def _phone(user: User) -> str:
    return user.phone if user.phone and user.phone_verified_at is not None else ""


def _email(user: User) -> str:
    return user.email if user.email and user.email_verified_at is not None else ""


# ------------------------------------------------------------------------------ sending


def send_notice(session: Session, bus: Any, staff: Any, audience: Audience, *, title: str,
                body: str, urgency: str = "normal", facts: dict[str, Any] | None = None
                ) -> Notice:
    """Create the notice and its deliveries and queue the first batch (after commit).

    Every account gets an in-app delivery; SMS and e-mail deliveries are ``pending`` for a
    proved phone or address, ``no_channel`` without one, and ``opted_out`` when the account
    turned non-urgent notices off and this one is not urgent (urgent ones always go)."""
    title, body = (title or "").strip(), (body or "").strip()
    errors = {}
    if not title:
        errors["title"] = N_("Write a title.")
    elif len(title) > TITLE_MAX:
        errors["title"] = N_("The title is too long.")
    if len(body) > BODY_MAX:
        errors["body"] = N_("The text is too long.")
    if urgency not in URGENCIES:
        errors["urgency"] = N_("Choose normal or urgent.")
    if errors:
        first = next(iter(errors))
        raise NoticeError(errors[first], first, errors=errors)
    place = resolve(session, audience, staff)
    actor = getattr(staff, "agent", None) or staff
    residents = session.scalar(
        select(func.count()).select_from(Person).where(*_person_filter(session, place, staff))
    ) or 0
    users = list(session.scalars(_accounts(session, place, staff)))
    now = utcnow()
    notice = Notice(
        title=title, body=body, urgency=urgency, audience_kind=audience.kind,
        audience_code=place.community if audience.kind != "grid" else place.grid,
        audience_id=audience.building_id, criteria=dict(audience.criteria) or None,
        audience_label=place.label[:200], created_by_id=getattr(actor, "id", None),
        created_by_name=(getattr(actor, "username", "") or "")[:64], created_at=now,
        sent_at=now, status="sending", residents=residents, accounts=len(users),
    )
    session.add(notice)
    session.flush()
    rows = []
    for user in users:
        rows.append({"user_id": user.id, "person_id": user.person_id, "channel": "inapp",
                     "status": "pending"})
        for channel, address in (("sms", _phone(user)), ("email", _email(user))):
            if not address:
                status = "no_channel"
            elif urgency != "urgent" and user.notices_opt_out:
                status = "opted_out"
            else:
                status = "pending"
            rows.append({"user_id": user.id, "person_id": user.person_id, "channel": channel,
                         "status": status})
    if rows:
        session.execute(insert(NoticeDelivery),
                        [{**r, "notice_id": notice.id} for r in rows])
    notice.total = len(rows)
    notice.done = sum(1 for r in rows if r["status"] != "pending")
    if notice.done == notice.total:
        notice.status, notice.finished_at = "done", now
    else:
        bus.publish(session, QUEUED_EVENT, {"notice_id": notice.id})
    log_audit(session, "notices.sent", actor=actor, target_type="notice",
              target_id=notice.id, facts=facts,
              detail={"audience": audience.kind, "place": notice.audience_code,
                      "building": audience.building_id, "urgency": urgency,
                      "residents": residents, "accounts": len(users)})
    session.flush()
    return notice


def _urgent_prefix(locale: str) -> str:
    """The fixed wording an urgent notice's title starts with, in the recipient's
    language (staff text itself is sent as written)."""
    try:
        from flask import has_app_context
        from flask_babel import force_locale, gettext

        if has_app_context():
            with force_locale(locale):
                return gettext("[Urgent] ")
    except ImportError:  # pragma: no cover - flask_babel is a dependency
        pass
    return "[Urgent] "


def deliver_batch(session: Session, bus: Any, notice_id: int, *, default_locale: str = "zh",
                  batch: int = BATCH_SIZE) -> int:
    """Deliver up to ``batch`` pending deliveries of the notice; publish the event again
    while some are left, mark the notice done when none are. Returns how many were handled.
    Idempotent: a repeated event finds nothing pending and does nothing."""
    notice = session.get(Notice, notice_id)
    if notice is None or notice.status != "sending":
        return 0
    pending = list(session.scalars(
        select(NoticeDelivery)
        .where(NoticeDelivery.notice_id == notice_id, NoticeDelivery.status == "pending")
        .order_by(NoticeDelivery.id).limit(batch)
    ))
    users = {u.id: u for u in session.scalars(
        select(User).where(User.id.in_({d.user_id for d in pending})))} if pending else {}
    now = utcnow()
    for delivery in pending:
        user = users.get(delivery.user_id)
        delivery.done_at = now
        if user is None or not user.is_active:
            delivery.status, delivery.error = "failed", "account gone or disabled"
            continue
        locale = user.locale or default_locale
        title = notice.title
        if notice.urgency == "urgent":
            title = _urgent_prefix(locale) + title
        if delivery.channel == "inapp":
            # The staff's title and body are shown as written; only the urgent marking is
            # core's wording, told in the language the notification is read in.
            told: str | Message = (Message("[Urgent] %(title)s", domain="core",
                                           title=notice.title)
                                   if notice.urgency == "urgent" else notice.title)
            notify(session, bus, user_id=user.id, title=told, body=notice.body,
                   kind="urgent" if notice.urgency == "urgent" else "notice",
                   source="notices")
            delivery.status = "sent"
            continue
        address = _phone(user) if delivery.channel == "sms" else _email(user)
        if not address:
            delivery.status = "no_channel"  # the address was removed since sending began
            continue
        msg = queue_message(session, bus, channel=delivery.channel, recipient=address,
                            template="notice", params={"title": title, "body": notice.body},
                            locale=locale, user_id=user.id)
        delivery.message_id, delivery.status = msg.id, "sent"
    notice.done = min(notice.total, notice.done + len(pending))
    left = session.scalar(select(func.count(NoticeDelivery.id)).where(
        NoticeDelivery.notice_id == notice_id, NoticeDelivery.status == "pending")) or 0
    if left:
        bus.publish(session, QUEUED_EVENT, {"notice_id": notice_id})
    else:
        notice.status, notice.finished_at, notice.done = "done", now, notice.total
    session.flush()
    return len(pending)


def make_batch_subscriber(bus: Any, default_locale: str) -> Any:
    def notices_deliver_batch(event: Any, session: Session) -> None:
        deliver_batch(session, bus, event.payload["notice_id"], default_locale=default_locale)

    return notices_deliver_batch


# ------------------------------------------------------------------------------ reading


def readable(session: Session, notice_id: int, reader: Any) -> Notice:
    """The notice, if its place is inside the reader's scope; else 404 (as if absent)."""
    notice = session.get(Notice, notice_id) if 0 < notice_id <= MAX_ID else None
    if notice is None or not _may_read(session, notice, reader):
        raise NoticeError(N_("No such notice."), "notice_id", status=404)
    return notice


def _may_read(session: Session, notice: Notice, reader: Any) -> bool:
    if notice.audience_kind == "building":
        row = session.execute(
            select(Community.code, Grid.code).select_from(Building)
            .join(Community, Community.id == Building.community_id)
            .outerjoin(Grid, Grid.id == Building.grid_id)
            .where(Building.id == notice.audience_id)
        ).first()
        return row is not None and _covers(reader, community=row[0], grid=row[1] or "")
    if notice.audience_kind == "grid":
        ccode = session.scalar(select(Community.code).join(Grid, Grid.community_id ==
                                                           Community.id)
                               .where(Grid.code == notice.audience_code))
        return ccode is not None and _covers(reader, community=ccode,
                                             grid=notice.audience_code)
    return _covers(reader, community=notice.audience_code, grid_only=True)


def list_notices(session: Session, reader: Any, *, limit: int = 100) -> list[Notice]:
    """The newest notices whose place is inside the reader's scope."""
    rows = session.scalars(select(Notice).order_by(Notice.id.desc()).limit(limit * 4))
    return [n for n in rows if _may_read(session, n, reader)][:limit]


def _effective(delivery: NoticeDelivery, messages: dict[int, str]) -> str:
    """A sent SMS or e-mail whose outbox message then failed counts as failed."""
    if delivery.message_id is not None and messages.get(delivery.message_id) == "failed":
        return "failed"
    return delivery.status


def report(session: Session, notice: Notice, reader: Any, *, with_recipients: bool = True,
           facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """Progress, counts by channel and status, and (``with_recipients``) the recipients
    with masked names — each listed resident's access log gets an entry (via ``notices``)."""
    deliveries = list(session.scalars(
        select(NoticeDelivery).where(NoticeDelivery.notice_id == notice.id)
        .order_by(NoticeDelivery.user_id, NoticeDelivery.id)))
    ids = [d.message_id for d in deliveries if d.message_id is not None]
    messages: dict[int, str] = {mid: status for mid, status in session.execute(
        select(OutboundMessage.id, OutboundMessage.status).where(OutboundMessage.id.in_(ids))
    )} if ids else {}
    counts: Counter[tuple[str, str]] = Counter()
    by_user: dict[int, dict[str, Any]] = {}
    for d in deliveries:
        status = _effective(d, messages)
        counts[(d.channel, status)] += 1
        entry = by_user.setdefault(d.user_id, {"user_id": d.user_id, "person_id": d.person_id,
                                               "name": "", "channels": {}})
        entry["channels"][d.channel] = status
    totals: Counter[str] = Counter()
    for (_channel, status), n in counts.items():
        totals[status] += n
    out: dict[str, Any] = {
        "id": notice.id, "title": notice.title, "body": notice.body, "urgency": notice.urgency,
        "audience": {"kind": notice.audience_kind, "code": notice.audience_code,
                     "building_id": notice.audience_id, "label": notice.audience_label,
                     **(notice.criteria or {})},
        "status": notice.status, "created_by": notice.created_by_name,
        "sent_at": notice.sent_at, "finished_at": notice.finished_at,
        "residents": notice.residents, "accounts": notice.accounts,
        "progress": {"done": notice.done, "total": notice.total},
        "counts": {status: totals.get(status, 0)
                   for status in ("pending", "sent", "failed", "no_channel", "opted_out")},
        "channels": {channel: {status: n for (c, status), n in counts.items() if c == channel}
                     for channel in ("inapp", "sms", "email")},
        "recipients": [],
    }
    if with_recipients:
        listed = list(by_user.values())[:REPORT_LIMIT]
        pids = [e["person_id"] for e in listed if e["person_id"] is not None]
        names: dict[int, str] = {pid: name for pid, name in session.execute(
            select(Person.id, Person.name).where(Person.id.in_(pids)))} if pids else {}
        viewer = getattr(reader, "agent", None) or reader
        for entry in listed:
            pid = entry["person_id"]
            entry["name"] = mask_name(names.get(pid)) if pid in names else ""
            if pid in names:
                log_access(session, actor=viewer, person_id=pid, fields=["name"],
                           purpose=REPORT_PURPOSE, via="notices", masked=True, facts=facts)
        out["recipients"] = listed
        out["recipients_capped"] = len(by_user) > REPORT_LIMIT
    return out


# ------------------------------------------------------------------------------ pickers


def places_for(session: Session, staff: Any) -> dict[str, list[tuple[str, str]]]:
    """The communities, grids and buildings ``staff`` may address, as ``(value, label)``
    pairs for the pickers (nobody types a code)."""
    scopes = actor_scopes(staff)
    everything = ("all", "") in scopes
    ccodes = {c for k, c in scopes if k == "community"}
    gcodes = {c for k, c in scopes if k == "grid"}
    cq = select(Community).order_by(Community.code)
    if not everything:
        cq = cq.where(Community.code.in_(ccodes or {""}))
    communities = list(session.scalars(cq))
    cids = [c.id for c in communities]
    gq = select(Grid).order_by(Grid.code)
    if not everything:
        gq = gq.where((Grid.community_id.in_(cids or [-1])) | Grid.code.in_(gcodes or {""}))
    grids = list(session.scalars(gq))
    gids = [g.id for g in grids]
    bq = select(Building, Community.name).join(Community, Community.id ==
                                               Building.community_id)
    if not everything:
        bq = bq.where(Building.community_id.in_(cids or [-1]) | Building.grid_id.in_(gids or [-1]))
    buildings = session.execute(bq.order_by(Community.code, Building.estate, Building.name)
                                .limit(2000)).all()
    return {
        "community": [(c.code, c.name) for c in communities],
        "grid": [(g.code, f"{g.community.name} · {g.name}") for g in grids],
        "building": [(str(b.id), " · ".join(p for p in (cname, b.estate, b.name) if p))
                     for b, cname in buildings],
    }


def set_opt_out(session: Session, user_id: int, opted_out: bool) -> None:
    """Turn non-urgent notices by SMS and e-mail off (or on again) for the account; in-app
    notices always arrive, and urgent ones go on every channel regardless."""
    user = session.get(User, user_id)
    if user is not None:
        user.notices_opt_out = bool(opted_out)
