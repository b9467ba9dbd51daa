"""The JSON API, mounted by core at ``/api/v1/commerce``.

Permissions are checked first (``require``, outermost), then the body's shape (422), then
objects (404: a resident's other tickets and other merchants' tickets do not exist for
them). A schema-valid request that the hotline's rules refuse — a ticket no longer
offered to you, a decision that does not apply, an unknown credit code — is a 409 with
``fields`` naming the problem (docs/api.md, "422 or 409?").
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint, abort
from sqlalchemy import select

from core.api.pagination import PageArgs, paginate
from core.audit.web import request_facts
from core.db import current_session
from core.identity import has_permission, require, require_login
from core.registry.errors import ScopeError
from core.registry.reader import RegistryReader
from plugins.commerce import APPLY, DISPATCH, FILE, PORTAL, READ, STATS, VET, info
from plugins.commerce import schemas as s
from plugins.commerce import services as svc
from plugins.commerce.models import Complaint, Merchant, Ticket

blp = Blueprint(
    "commerce_api",
    __name__,
    description="Service hotline: merchants, tickets, dispatch, regulation",
)
AUTH = [{"bearerAuth": []}]


def kernel() -> Any:
    return current_app.extensions["shequ"]


def settings() -> dict[str, Any]:
    return kernel().plugins.settings(info.id)


def reader(purpose: str) -> RegistryReader:
    return RegistryReader.for_plugin(
        current_session(),
        kernel(),
        info.id,
        actor=current_user,
        purpose=purpose,
        facts=request_facts(),
        enforce_place=False,
    )


def refuse(exc: svc.CommerceError) -> None:
    """A rule refused a well-formed request: 404 for objects, else 409 naming the field."""
    text = _(exc.message, **exc.params)
    if exc.status == 404:
        abort(404, message=text)
    abort(409, message=text, messages={exc.field or "_": [text]})


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


def ticket_out(t: Ticket) -> dict[str, Any]:
    out = {c.key: getattr(t, c.key) for c in Ticket.__table__.columns}
    out["timeline"] = svc.timeline(current_session(), t.id)
    return out


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


ERR401 = {"schema": "Error", "description": "Not signed in"}
ERR404 = {"schema": "Error", "description": "No such object, or not yours"}
ERR409 = {"schema": "Error", "description": "Refused by the hotline's rules (see fields)"}
ERR422 = {"schema": "Error", "description": "Invalid fields"}


def _err403(perm: str) -> dict[str, str]:
    return {"schema": "Error", "description": f"Lacks {perm}"}


# ----------------------------------------------------------------------------- merchants


@blp.route("/merchants")
class Merchants(MethodView):
    @blp.arguments(s.CommerceDirectoryArgs, location="query")
    @blp.response(200, s.CommerceMerchantList)
    @blp.alt_response(422, **ERR422)
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
    @require(APPLY)
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceApplyIn)
    @blp.response(201, s.CommerceMerchant)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(APPLY))
    @blp.alt_response(409, **ERR409)
    @blp.alt_response(422, **ERR422)
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
    @blp.response(200, s.CommerceMerchant)
    @blp.alt_response(404, **ERR404)
    def get(self, merchant_id: int):
        """An approved merchant with its public scorecard."""
        m = svc.fetch(current_session(), Merchant, merchant_id)
        if m is None or m.status != "approved":
            abort(404)
        return merchant_out(m, svc.scorecard(current_session(), m.id, settings()))


@blp.route("/merchants/<int:merchant_id>/decision")
class MerchantDecision(MethodView):
    @require(VET)
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceDecisionIn)
    @blp.response(200, s.CommerceMerchant)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(VET))
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    @blp.alt_response(422, **ERR422)
    def post(self, data, merchant_id: int):
        """Approve, suspend, revoke or warn, with a reason; suspension stops dispatch."""
        session = current_session()
        try:
            m = svc.decide_merchant(
                session, kernel().bus, merchant_id, actor=current_user, settings=settings(), **data
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return merchant_out(m, svc.scorecard(session, m.id, settings()))


# ----------------------------------------------------------------------------- tickets


@blp.route("/tickets")
class Tickets(MethodView):
    @require(READ)
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceTicketArgs, location="query")
    @blp.response(200, s.CommerceTicketPage)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(READ))
    @blp.alt_response(422, **ERR422)
    def get(self, args):
        """Every ticket (staff), by state or overdue, newest first."""
        page = paginate(
            current_session(),
            svc.tickets_query(state=args["state"], overdue=args["overdue"]),
            {"page": args["page"], "page_size": args["page_size"]},
        )
        page["items"] = [ticket_out(t) for t in page["items"]]
        return page

    @require(FILE)
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceTicketIn)
    @blp.response(201, s.CommerceTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(FILE))
    @blp.alt_response(409, **ERR409)
    @blp.alt_response(422, **ERR422)
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
            t = svc.create_ticket(
                session,
                kernel().bus,
                channel="web",
                person_id=pid,
                community=person.get("community"),
                category=data["category"],
                description=data["description"],
                service_address=data["service_address"] or person.get("address") or "",
                contact_phone=data["contact_phone"] or person.get("phone") or "",
                contact_name=person.get("name") or "",
                public_area=data["public_area"],
                elderly_alone=person["elderly_alone"],
                actor=current_user,
                settings=settings(),
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return ticket_out(t)


@blp.route("/tickets/hotline")
class HotlineTickets(MethodView):
    @require(DISPATCH)
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceHotlineTicketIn)
    @blp.response(201, s.CommerceTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(DISPATCH))
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    @blp.alt_response(422, **ERR422)
    def post(self, data):
        """The operator opens a ticket for a caller found in the registry."""
        session = current_session()
        try:
            person = svc.caller_facts(reader("hotline call"), data["person_id"])["person"]
        except ScopeError:
            abort(404)
        try:
            t = svc.create_ticket(
                session,
                kernel().bus,
                channel="operator",
                person_id=data["person_id"],
                community=person.get("community"),
                category=data["category"],
                description=data["description"],
                service_address=data["service_address"],
                contact_phone=data["contact_phone"],
                contact_name=person.get("name") or "",
                public_area=data["public_area"],
                elderly_alone=person["elderly_alone"],
                actor=current_user,
                settings=settings(),
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return ticket_out(t)


@blp.route("/one-key")
class OneKey(MethodView):
    @require(FILE)
    @blp.doc(security=AUTH)
    @blp.response(201, s.CommerceTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(FILE))
    @blp.alt_response(409, **ERR409)
    def post(self):
        """The one-key call (一键呼叫): a ticket with the resident's registry data, waiting
        for the operator to call back (the same one if pressed again)."""
        session = current_session()
        try:
            t = svc.one_key_call(
                session,
                kernel().bus,
                reader("one-key call"),
                user=current_user,
                settings=settings(),
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return ticket_out(t)


@blp.route("/my/tickets")
class MyTickets(MethodView):
    @require(FILE)
    @blp.doc(security=AUTH)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, s.CommerceTicketPage)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(FILE))
    @blp.alt_response(422, **ERR422)
    def get(self, args):
        """The signed-in resident's own tickets."""
        pid = getattr(current_user, "person_id", None)
        query = svc.tickets_query(person_id=pid if pid is not None else -1)
        page = paginate(current_session(), query, args)
        page["items"] = [ticket_out(t) for t in page["items"]]
        return page


@blp.route("/tickets/<int:ticket_id>")
class TicketItem(MethodView):
    @require_login
    @blp.doc(security=AUTH)
    @blp.response(200, s.CommerceTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(404, **ERR404)
    def get(self, ticket_id: int):
        """A ticket with its timeline: staff holding commerce.ticket.read, or the resident
        whose ticket it is (anyone else: 404). Merchants use /portal/tickets."""
        t = svc.fetch(current_session(), Ticket, ticket_id)
        pid = getattr(current_user, "person_id", None)
        if t is None or not (
            has_permission(current_user, READ) or (pid is not None and t.person_id == pid)
        ):
            abort(404)
        return ticket_out(t)


@blp.route("/tickets/<int:ticket_id>/dispatch")
class TicketDispatch(MethodView):
    @require(DISPATCH)
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceDispatchIn)
    @blp.response(200, s.CommerceTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(DISPATCH))
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    @blp.alt_response(422, **ERR422)
    def post(self, data, ticket_id: int):
        """Dispatch a received ticket to the best-ranked merchant, or to ``merchant_id``."""
        session = current_session()
        try:
            t = svc.dispatch(
                session,
                kernel().bus,
                ticket_id,
                merchant_id=data["merchant_id"],
                actor=current_user,
                settings=settings(),
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return ticket_out(t)


@blp.route("/tickets/<int:ticket_id>/confirm")
class TicketConfirm(MethodView):
    @require(FILE)
    @blp.doc(security=AUTH)
    @blp.response(200, s.CommerceTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(FILE))
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    def post(self, ticket_id: int):
        """The resident confirms the work was done."""
        t = own_ticket(ticket_id)
        try:
            svc.confirm(current_session(), t.id, actor=current_user)
        except svc.CommerceError as exc:
            refuse(exc)
        current_session().commit()
        return ticket_out(t)


@blp.route("/tickets/<int:ticket_id>/rating")
class TicketRating(MethodView):
    @require_login
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceRateIn)
    @blp.response(200, s.CommerceTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    @blp.alt_response(422, **ERR422)
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
                kernel().bus,
                t.id,
                actor=current_user,
                via="resident" if own else "operator",
                **data,
            )
        except svc.CommerceError as exc:
            refuse(exc)
        current_session().commit()
        return ticket_out(t)


@blp.route("/tickets/<int:ticket_id>/complaints")
class TicketComplaints(MethodView):
    @require(FILE)
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceComplaintIn)
    @blp.response(201, s.CommerceComplaint)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(FILE))
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    @blp.alt_response(422, **ERR422)
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
    @require(DISPATCH)
    @blp.doc(security=AUTH)
    @blp.response(200, s.CommerceCount)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(DISPATCH))
    def post(self):
        """Re-dispatch offers not accepted in time (what ``shequ commerce redispatch``
        does; a scheduler may call this with a token)."""
        n = svc.redispatch_expired(current_session(), kernel().bus, settings=settings())
        current_session().commit()
        return {"key": "redispatched", "count": n}


# ----------------------------------------------------------------------------- merchant portal


@blp.route("/portal/tickets")
class PortalTickets(MethodView):
    @require(PORTAL)
    @blp.doc(security=AUTH)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, s.CommerceMerchantTicketPage)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(PORTAL))
    @blp.alt_response(422, **ERR422)
    def get(self, args):
        """Tickets offered to or held by the caller's merchant (none when unbound)."""
        m = svc.merchant_for_user(current_session(), current_user.id)
        page = paginate(current_session(), svc.tickets_query(merchant_id=m.id if m else -1), args)
        page["items"] = [svc.merchant_view(t) for t in page["items"]]
        return page


@blp.route("/portal/tickets/<int:ticket_id>")
class PortalTicketItem(MethodView):
    @require(PORTAL)
    @blp.doc(security=AUTH)
    @blp.response(200, s.CommerceMerchantTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(PORTAL))
    @blp.alt_response(404, **ERR404)
    def get(self, ticket_id: int):
        """A ticket as the merchant sees it: the job; address and contact once accepted;
        never registry data."""
        _m, t = merchant_ticket(ticket_id)
        return svc.merchant_view(t)


def _portal_action(ticket_id: int, action: str, data: dict[str, Any]) -> dict[str, Any]:
    m, t = merchant_ticket(ticket_id)
    session, bus = current_session(), kernel().bus
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
    return svc.merchant_view(t)


@blp.route("/portal/tickets/<int:ticket_id>/accept")
class PortalAccept(MethodView):
    @require(PORTAL)
    @blp.doc(security=AUTH)
    @blp.response(200, s.CommerceMerchantTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(PORTAL))
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    def post(self, ticket_id: int):
        """Accept the offer; exactly one merchant can win a ticket (409 for the others)."""
        return _portal_action(ticket_id, "accept", {})


@blp.route("/portal/tickets/<int:ticket_id>/decline")
class PortalDecline(MethodView):
    @require(PORTAL)
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceDeclineIn)
    @blp.response(200, s.CommerceMerchantTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(PORTAL))
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    @blp.alt_response(422, **ERR422)
    def post(self, data, ticket_id: int):
        """Decline the offer; the next merchant gets it."""
        m, t = merchant_ticket(ticket_id)
        session = current_session()
        try:
            svc.decline(
                session,
                kernel().bus,
                t.id,
                merchant_id=m.id,
                reason=data["reason"],
                actor=current_user,
                settings=settings(),
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return svc.merchant_view(t)


@blp.route("/portal/tickets/<int:ticket_id>/start")
class PortalStart(MethodView):
    @require(PORTAL)
    @blp.doc(security=AUTH)
    @blp.response(200, s.CommerceMerchantTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(PORTAL))
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    def post(self, ticket_id: int):
        """Start the work."""
        return _portal_action(ticket_id, "start", {})


@blp.route("/portal/tickets/<int:ticket_id>/complete")
class PortalComplete(MethodView):
    @require(PORTAL)
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceCompleteIn)
    @blp.response(200, s.CommerceMerchantTicket)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(PORTAL))
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    @blp.alt_response(422, **ERR422)
    def post(self, data, ticket_id: int):
        """Report the work done with the final price."""
        return _portal_action(ticket_id, "complete", data)


# ----------------------------------------------------------------------------- regulation


@blp.route("/complaints")
class Complaints(MethodView):
    @require(VET)
    @blp.doc(security=AUTH)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, s.page_schema(s.CommerceComplaint, "CommerceComplaintPage"))
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(VET))
    @blp.alt_response(422, **ERR422)
    def get(self, args):
        """Complaints, newest first."""
        return paginate(
            current_session(),
            select(Complaint).order_by(Complaint.created_at.desc(), Complaint.id.desc()),
            args,
        )


@blp.route("/complaints/<int:complaint_id>/decision")
class ComplaintDecision(MethodView):
    @require(VET)
    @blp.doc(security=AUTH)
    @blp.arguments(s.CommerceComplaintDecisionIn)
    @blp.response(200, s.CommerceComplaint)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(VET))
    @blp.alt_response(404, **ERR404)
    @blp.alt_response(409, **ERR409)
    @blp.alt_response(422, **ERR422)
    def post(self, data, complaint_id: int):
        """Dismiss, warn the merchant, or suspend it (dispatch stops at once)."""
        session = current_session()
        try:
            c = svc.decide_complaint(
                session, kernel().bus, complaint_id, actor=current_user, settings=settings(), **data
            )
        except svc.CommerceError as exc:
            refuse(exc)
        session.commit()
        return c


@blp.route("/stats")
class Stats(MethodView):
    @require(STATS)
    @blp.doc(security=AUTH)
    @blp.response(200, s.CommerceStats)
    @blp.alt_response(401, **ERR401)
    @blp.alt_response(403, **_err403(STATS))
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
