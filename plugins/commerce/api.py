"""The JSON API, mounted by core at ``/api/v1/commerce``.

Permissions are checked first (the gate of ``endpoint``, outermost), then the body's
shape (422), then objects (404: a resident's other tickets and other merchants' tickets
do not exist for them). A schema-valid request that the hotline's rules refuse — a ticket
no longer offered to you, a decision that does not apply, an unknown credit code — is a
409 with ``fields`` naming the problem (docs/api.md, "422 or 409?").
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import abort
from sqlalchemy import select

from core.toolkit import (
    ApiBlueprint,
    PageArgs,
    RegistryError,
    ScopeError,
    current_kernel,
    current_session,
    endpoint,
    has_permission,
    paginate,
    plugin_settings,
    require_login,
)
from core.toolkit import refuse as toolkit_refuse
from plugins.commerce import APPLY, DISPATCH, FILE, PORTAL, READ, STATS, VET, access, info
from plugins.commerce import schemas as s
from plugins.commerce import services as svc
from plugins.commerce.models import Complaint, Merchant, Ticket

blp = ApiBlueprint(
    "commerce_api",
    __name__,
    description="Service hotline: merchants, tickets, dispatch, regulation",
)

#: The specific words of the API's 409 (the rest are the toolkit's defaults).
WORDS = {409: "Refused by the hotline's rules (see fields)"}


def settings() -> dict[str, Any]:
    return plugin_settings(info.id)


def reader(purpose: str) -> Any:
    return access.reader(purpose)


def refuse(exc: svc.CommerceError) -> NoReturn:
    """A rule refused a well-formed request: 404 for objects, else 409 naming the field
    (every schema-valid refusal is a 409 here, whatever the error's own status)."""
    toolkit_refuse(exc, status=404 if exc.status == 404 else 409)


def merchant_out(m: Merchant, card: svc.Scorecard | None = None) -> dict[str, Any]:
    out = {
        k: getattr(m, k)
        for k in (
            "id",
            "organisation_id",
            "name",
            "categories",
            "communities",
            "opening_hours",
            "price_list",
            "phone",
            "status",
            "status_reason",
            "warnings",
        )
    }
    if card is not None:
        out["scorecard"] = card.as_dict()
    return out


#: What a ticket shows besides its contact (never the raw ``caller_*`` copies).
TICKET_FIELDS = (
    "id", "channel", "state", "category", "description", "community", "person_id",
    "public_area", "elderly_alone", "merchant_id", "accept_by", "response_due",
    "completion_due", "accepted_at", "completed_at", "closed_at", "final_price", "rating",
    "rating_comment", "flag", "created_at",
)


def ticket_out(t: Ticket, role: str, *, listing: bool = False) -> dict[str, Any]:
    """A ticket for a viewer in ``role`` (``services.contact_policy``): the contact read
    for this display (registry or the caller's own copy), masked unless listed in
    ``contact_full``, and logged."""
    out = {k: getattr(t, k) for k in TICKET_FIELDS}
    c = access.contact(t, role, listing=listing)
    out.update(
        contact_name=c["name"], contact_phone=c["phone"], service_address=c["address"],
        contact_full=c["full"], caller_in_registry=c["in_registry"],
        caller_data_erased=c["erased"],
    )
    out["timeline"] = svc.timeline(current_session(), t.id)
    return out


def shown(out: dict[str, Any]) -> dict[str, Any]:
    """Commit the log entries of a display built after the action's own commit."""
    current_session().commit()
    return out


def staff_ticket_out(t: Ticket) -> dict[str, Any]:
    """After a staff action: the ticket as the acting staff member sees it."""
    return ticket_out(t, access.role_for(t, as_staff=True) or svc.staff_role(current_user))


def merchant_out_ticket(m: Merchant, t: Ticket, *, listing: bool = False) -> dict[str, Any]:
    return svc.merchant_view(
        t, access.contact(t, "merchant", merchant_id=m.id, listing=listing)
    )


def registry_phone(rd: Any, person_id: int, phone: str) -> bool:
    """Whether ``phone`` is the registry's number for the person (then no copy is kept):
    the registry is searched by the number, nothing is shown."""
    if not phone:
        return False
    try:
        return any(i["id"] == person_id for i in rd.search(phone=phone, per_page=5).items)
    except (RegistryError, ScopeError):
        return False


def own_ticket(ticket_id: int) -> Ticket:
    t = svc.fetch(current_session(), Ticket, ticket_id)
    pid = getattr(current_user, "person_id", None)
    if t is None or pid is None or t.person_id != pid:
        abort(404)
    return t


def merchant_ticket(ticket_id: int) -> tuple[Merchant, Ticket]:
    m = svc.merchant_for_user(current_session(), current_user.id)
    t = svc.fetch(current_session(), Ticket, ticket_id)
    if m is None or t is None or t.merchant_id != m.id:
        abort(404)
    return m, t


# ----------------------------------------------------------------------------- merchants


@blp.route("/merchants")
class Merchants(MethodView):
    @endpoint(blp, errors=(422,))
    @blp.arguments(s.CommerceDirectoryArgs, location="query")
    @blp.response(200, s.CommerceMerchantList)
    def get(self, args):
        """The public directory: approved merchants, best score first. Public, like the
        pages: residents choose with it."""
        rows = svc.directory(
            current_session(),
            category=args["category"],
            community=args["community"],
            settings=settings(),
        )
        return {"items": [merchant_out(m, c) for m, c in rows]}


@blp.route("/merchant-applications")
class MerchantApplications(MethodView):
    @endpoint(blp, APPLY, errors=(409, 422), descriptions=WORDS)
    @blp.arguments(s.CommerceApplyIn)
    @blp.response(201, s.CommerceMerchant)
    def post(self, data):
        """Apply to join the hotline; the calling account becomes the merchant's staff."""
        session = current_session()
        try:
            rd = reader("merchant application")
            codes = {c["code"] for c in rd.communities()}
            m = svc.apply_merchant(session, rd, user=current_user, community_codes=codes, **data)
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return merchant_out(m, svc.scorecard(session, m.id, settings()))


@blp.route("/merchants/<int:merchant_id>")
class MerchantItem(MethodView):
    @endpoint(blp, errors=(404,))
    @blp.response(200, s.CommerceMerchant)
    def get(self, merchant_id: int):
        """An approved merchant with its public scorecard."""
        m = svc.fetch(current_session(), Merchant, merchant_id)
        if m is None or m.status != "approved":
            abort(404)
        return merchant_out(m, svc.scorecard(current_session(), m.id, settings()))


@blp.route("/merchants/<int:merchant_id>/decision")
class MerchantDecision(MethodView):
    @endpoint(blp, VET, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.CommerceDecisionIn)
    @blp.response(200, s.CommerceMerchant)
    def post(self, data, merchant_id: int):
        """Approve, suspend, revoke or warn, with a reason; suspension stops dispatch."""
        session = current_session()
        try:
            m = svc.decide_merchant(
                session,
                current_kernel().bus,
                merchant_id,
                actor=current_user,
                settings=settings(),
                **data,
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return merchant_out(m, svc.scorecard(session, m.id, settings()))


# ----------------------------------------------------------------------------- tickets


@blp.route("/tickets")
class Tickets(MethodView):
    @endpoint(blp, READ, errors=(422,))
    @blp.arguments(s.CommerceTicketArgs, location="query")
    @blp.response(200, s.CommerceTicketPage)
    def get(self, args):
        """Tickets by state or overdue, newest first: every ticket for the hotline,
        those of their communities for place-scoped staff (community workers, auditors:
        none without an assignment). Callers' phones and addresses are masked, names
        too; each person shown is logged in their access log."""
        role = svc.staff_role(current_user)
        page = paginate(
            current_session(),
            svc.tickets_query(
                state=args["state"],
                overdue=args["overdue"],
                communities=access.staff_communities(),
            ),
            {"page": args["page"], "page_size": args["page_size"]},
        )
        page["items"] = [ticket_out(t, role, listing=True) for t in page["items"]]
        current_session().commit()  # the displays' log entries
        return page

    @endpoint(blp, FILE, errors=(409, 422), descriptions=WORDS)
    @blp.arguments(s.CommerceTicketIn)
    @blp.response(201, s.CommerceTicket)
    def post(self, data):
        """A verified resident files a ticket for themselves."""
        pid = getattr(current_user, "person_id", None)
        if pid is None:
            abort(409, message=_("Verify your account first, so we know who and where you are."))
        session = current_session()
        try:
            person = svc.caller_facts(reader("service ticket"), pid, reveal=("phone", "address"))[
                "person"
            ]
            address = data["service_address"]
            phone = data["contact_phone"]
            t = svc.create_ticket(
                session,
                current_kernel().bus,
                channel="web",
                person_id=pid,
                community=person.get("community"),
                category=data["category"],
                description=data["description"],
                caller_address="" if address == (person.get("address") or "") else address,
                caller_phone="" if svc.same_phone(phone, person.get("phone")) else phone,
                registered_address=bool(person.get("address")),
                public_area=data["public_area"],
                elderly_alone=person["elderly_alone"],
                actor=current_user,
                settings=settings(),
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return shown(ticket_out(t, "owner"))


@blp.route("/tickets/hotline")
class HotlineTickets(MethodView):
    @endpoint(blp, DISPATCH, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.CommerceHotlineTicketIn)
    @blp.response(201, s.CommerceTicket)
    def post(self, data):
        """The operator opens a ticket for a caller: one found in the registry
        (``person_id``; give ``service_address`` / ``contact_phone`` only when the work is
        elsewhere or the merchant should call another number), or a caller who is not
        registered (``caller_name``, ``contact_phone``, ``service_address``, ``community``).
        What the caller gives is kept as their own copy: masked, erased after the
        retention period."""
        session = current_session()
        rd = reader("hotline call")
        pid = data["person_id"]
        phone = data["contact_phone"]
        if pid is not None:
            try:
                person = svc.caller_facts(rd, pid)["person"]
            except ScopeError:
                abort(404)
            community = person.get("community")
            if registry_phone(rd, pid, phone):
                phone = ""
        else:
            person = {"elderly_alone": False, "address": None}
            community = data["community"]
            if not community:
                # the schema allows no community (a registry caller has one); the data
                # needs it for a caller the registry does not know: 409 (docs/api.md)
                text = _("Choose the caller's community.")
                abort(409, message=text, messages={"community": [text]})
            if community not in {c["code"] for c in rd.communities()}:
                text = _("Unknown value: %(value)s.", value=community)
                abort(409, message=text, messages={"community": [text]})
        try:
            t = svc.create_ticket(
                session,
                current_kernel().bus,
                channel="operator",
                person_id=pid,
                community=community,
                category=data["category"],
                description=data["description"],
                caller_address=data["service_address"],
                caller_phone=phone,
                caller_name=data["caller_name"],
                registered_address=bool(person.get("address")),
                public_area=data["public_area"],
                elderly_alone=person["elderly_alone"],
                actor=current_user,
                settings=settings(),
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return shown(ticket_out(t, "hotline"))


@blp.route("/one-key")
class OneKey(MethodView):
    @endpoint(blp, FILE, errors=(409,), descriptions=WORDS)
    @blp.response(201, s.CommerceTicket)
    def post(self):
        """The one-key call (一键呼叫): a ticket with the resident's registry data, waiting
        for the operator to call back (the same one if pressed again)."""
        session = current_session()
        try:
            t = svc.one_key_call(
                session,
                current_kernel().bus,
                reader("one-key call"),
                user=current_user,
                settings=settings(),
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return shown(ticket_out(t, "owner"))


@blp.route("/my/tickets")
class MyTickets(MethodView):
    @endpoint(blp, FILE, errors=(422,))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, s.CommerceTicketPage)
    def get(self, args):
        """The signed-in resident's own tickets."""
        pid = getattr(current_user, "person_id", None)
        query = svc.tickets_query(person_id=pid if pid is not None else -1)
        page = paginate(current_session(), query, args)
        page["items"] = [ticket_out(t, "owner", listing=True) for t in page["items"]]
        current_session().commit()
        return page


@blp.route("/tickets/<int:ticket_id>")
class TicketItem(MethodView):
    @endpoint(blp, require_login, errors=(404,))
    @blp.response(200, s.CommerceTicket)
    def get(self, ticket_id: int):
        """A ticket with its timeline: the resident whose ticket it is, the hotline, or
        staff holding commerce.ticket.read whose communities it is in (anyone else: 404).
        Merchants use /portal/tickets. The contact is masked unless the step needs it
        (``contact_full``); every display is logged in the resident's access log."""
        t = svc.fetch(current_session(), Ticket, ticket_id)
        role = access.role_for(t) if t is not None else None
        if role is None:
            abort(404)
        out = ticket_out(t, role)
        current_session().commit()  # the display's log entries
        return out


@blp.route("/tickets/<int:ticket_id>/dispatch")
class TicketDispatch(MethodView):
    @endpoint(blp, DISPATCH, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.CommerceDispatchIn)
    @blp.response(200, s.CommerceTicket)
    def post(self, data, ticket_id: int):
        """Dispatch a received ticket to the best-ranked merchant, or to ``merchant_id``."""
        session = current_session()
        try:
            t = svc.dispatch(
                session,
                current_kernel().bus,
                ticket_id,
                merchant_id=data["merchant_id"],
                actor=current_user,
                settings=settings(),
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return shown(staff_ticket_out(t))


@blp.route("/tickets/<int:ticket_id>/confirm")
class TicketConfirm(MethodView):
    @endpoint(blp, FILE, errors=(404, 409), descriptions=WORDS)
    @blp.response(200, s.CommerceTicket)
    def post(self, ticket_id: int):
        """The resident confirms the work was done."""
        t = own_ticket(ticket_id)
        try:
            svc.confirm(current_session(), t.id, actor=current_user)
        except svc.CommerceError as exc:
            refuse(exc)
        current_session().commit()
        return shown(ticket_out(t, "owner"))


@blp.route("/tickets/<int:ticket_id>/rating")
class TicketRating(MethodView):
    @endpoint(blp, require_login, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.CommerceRateIn)
    @blp.response(200, s.CommerceTicket)
    def post(self, data, ticket_id: int):
        """The follow-up rating (回访): by the resident whose ticket it is, or recorded by
        an operator (commerce.ticket.dispatch) after a call-back."""
        t = svc.fetch(current_session(), Ticket, ticket_id)
        pid = getattr(current_user, "person_id", None)
        own = (
            t is not None
            and pid is not None
            and t.person_id == pid
            and has_permission(current_user, FILE)
        )
        if t is None or not (own or has_permission(current_user, DISPATCH)):
            abort(404)
        try:
            svc.rate(
                current_session(),
                current_kernel().bus,
                t.id,
                actor=current_user,
                via="resident" if own else "operator",
                **data,
            )
        except svc.CommerceError as exc:
            refuse(exc)
        current_session().commit()
        return shown(ticket_out(t, "owner" if own else "hotline"))


@blp.route("/tickets/<int:ticket_id>/complaints")
class TicketComplaints(MethodView):
    @endpoint(blp, FILE, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.CommerceComplaintIn)
    @blp.response(201, s.CommerceComplaint)
    def post(self, data, ticket_id: int):
        """The resident complains about the merchant who handled the ticket."""
        t = own_ticket(ticket_id)
        try:
            c = svc.complain(current_session(), t.id, text=data["text"], actor=current_user)
        except svc.CommerceError as exc:
            refuse(exc)
        current_session().commit()
        return c


@blp.route("/redispatch")
class Redispatch(MethodView):
    @endpoint(blp, DISPATCH)
    @blp.response(200, s.CommerceCount)
    def post(self):
        """Re-dispatch offers not accepted in time (what ``shequ commerce redispatch``
        does; a scheduler may call this with a token)."""
        bus = current_kernel().bus
        n = svc.redispatch_expired(current_session(), bus, settings=settings())
        current_session().commit()
        return {"key": "redispatched", "count": n}


# ----------------------------------------------------------------------------- merchant portal


@blp.route("/portal/tickets")
class PortalTickets(MethodView):
    @endpoint(blp, PORTAL, errors=(422,))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, s.CommerceMerchantTicketPage)
    def get(self, args):
        """Tickets offered to or held by the caller's merchant (none when unbound)."""
        m = svc.merchant_for_user(current_session(), current_user.id)
        page = paginate(current_session(), svc.tickets_query(merchant_id=m.id if m else -1), args)
        page["items"] = [merchant_out_ticket(m, t, listing=True) for t in page["items"]]
        current_session().commit()  # the displays' log entries
        return page


@blp.route("/portal/tickets/<int:ticket_id>")
class PortalTicketItem(MethodView):
    @endpoint(blp, PORTAL, errors=(404,))
    @blp.response(200, s.CommerceMerchantTicket)
    def get(self, ticket_id: int):
        """A ticket as the merchant sees it: the job; the address down to the building
        while offered; name, address and phone in full while they hold it open (accepted,
        in progress), logged in the customer's access log; never the registry person."""
        m, t = merchant_ticket(ticket_id)
        out = merchant_out_ticket(m, t)
        current_session().commit()  # the display's log entries
        return out


def _portal_action(ticket_id: int, action: str, data: dict[str, Any]) -> dict[str, Any]:
    """One merchant step on a ticket offered to or held by them; a refused step is rolled
    back (the loser of a race for an offer gets a 409 and changes nothing)."""
    m, t = merchant_ticket(ticket_id)
    session, bus = current_session(), current_kernel().bus
    try:
        if action == "accept":
            svc.accept(session, bus, t.id, merchant_id=m.id, actor=current_user)
        elif action == "decline":
            svc.decline(
                session,
                bus,
                t.id,
                merchant_id=m.id,
                reason=data.get("reason", ""),
                actor=current_user,
                settings=settings(),
            )
        elif action == "start":
            svc.start_work(session, t.id, merchant_id=m.id, actor=current_user)
        else:
            svc.complete(
                session,
                bus,
                t.id,
                merchant_id=m.id,
                final_price=data["final_price"],
                note=data.get("note", ""),
                actor=current_user,
            )
    except svc.CommerceError as exc:
        session.rollback()
        refuse(exc)
    session.commit()
    t = svc.fetch(session, Ticket, ticket_id)
    return shown(merchant_out_ticket(m, t))


@blp.route("/portal/tickets/<int:ticket_id>/accept")
class PortalAccept(MethodView):
    @endpoint(blp, PORTAL, errors=(404, 409), descriptions=WORDS)
    @blp.response(200, s.CommerceMerchantTicket)
    def post(self, ticket_id: int):
        """Accept the offer; exactly one merchant can win a ticket (409 for the others)."""
        return _portal_action(ticket_id, "accept", {})


@blp.route("/portal/tickets/<int:ticket_id>/decline")
class PortalDecline(MethodView):
    @endpoint(blp, PORTAL, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.CommerceDeclineIn)
    @blp.response(200, s.CommerceMerchantTicket)
    def post(self, data, ticket_id: int):
        """Decline the offer; the next merchant gets it."""
        return _portal_action(ticket_id, "decline", data)


@blp.route("/portal/tickets/<int:ticket_id>/start")
class PortalStart(MethodView):
    @endpoint(blp, PORTAL, errors=(404, 409), descriptions=WORDS)
    @blp.response(200, s.CommerceMerchantTicket)
    def post(self, ticket_id: int):
        """Start the work."""
        return _portal_action(ticket_id, "start", {})


@blp.route("/portal/tickets/<int:ticket_id>/complete")
class PortalComplete(MethodView):
    @endpoint(blp, PORTAL, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.CommerceCompleteIn)
    @blp.response(200, s.CommerceMerchantTicket)
    def post(self, data, ticket_id: int):
        """Report the work done with the final price."""
        return _portal_action(ticket_id, "complete", data)


# ----------------------------------------------------------------------------- regulation


@blp.route("/complaints")
class Complaints(MethodView):
    @endpoint(blp, VET, errors=(422,))
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, s.page_schema(s.CommerceComplaint, "CommerceComplaintPage"))
    def get(self, args):
        """Complaints, newest first."""
        return paginate(
            current_session(),
            select(Complaint).order_by(Complaint.created_at.desc(), Complaint.id.desc()),
            args,
        )


@blp.route("/complaints/<int:complaint_id>/decision")
class ComplaintDecision(MethodView):
    @endpoint(blp, VET, errors=(404, 409, 422), descriptions=WORDS)
    @blp.arguments(s.CommerceComplaintDecisionIn)
    @blp.response(200, s.CommerceComplaint)
    def post(self, data, complaint_id: int):
        """Dismiss, warn the merchant, or suspend it (dispatch stops at once)."""
        session = current_session()
        try:
            c = svc.decide_complaint(
                session,
                current_kernel().bus,
                complaint_id,
                actor=current_user,
                settings=settings(),
                **data,
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return c


@blp.route("/stats")
class Stats(MethodView):
    @endpoint(blp, STATS)
    @blp.response(200, s.CommerceStats)
    def get(self):
        """Tickets by category, state and rating; average response and completion times."""
        d = svc.statistics(current_session())

        def pairs(rows: list[tuple[str, int]]) -> list[dict[str, Any]]:
            return [{"key": k, "count": n} for k, n in rows]

        return {
            "total": d.total,
            "by_category": pairs(d.by_category),
            "by_state": pairs(d.by_state),
            "ratings": pairs(d.ratings),
            "avg_response_hours": d.avg_response_hours,
            "avg_completion_hours": d.avg_completion_hours,
            "avg_rating": d.avg_rating,
            "overdue": d.overdue,
            "by_category_times": [
                {"key": k, "avg_response_hours": r, "avg_completion_hours": c, "avg_rating": a}
                for k, r, c, a in d.by_category_times
            ],
        }
