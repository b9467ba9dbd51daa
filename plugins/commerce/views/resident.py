"""Pages for everyone and for residents: the directory of approved merchants, and
a resident's own tickets (filing, the one-key call, confirming, rating, complaining)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from core.toolkit import current_kernel, current_session, has_permission, require
from plugins.commerce import FILE, info
from plugins.commerce import services as svc
from plugins.commerce.models import Complaint, Merchant, Ticket
from plugins.commerce.views.common import (
    bp,
    category_choices,
    community_choices,
    form_errors,
    own_ticket,
    put_error,
    reader,
    settings,
)
from plugins.commerce.views.forms import ComplaintForm, RateForm, TicketForm


@bp.route("/")
def index():
    """Public: what the hotline is, the one-key call for residents, the directory."""
    return render_template(
        "commerce/index.html", info=info, can_file=has_permission(current_user, FILE)
    )


@bp.route("/merchants")
def directory():
    """Public: the directory of vetted merchants (public information, as 81890 publishes
    its franchised vendors) by category and community, with scorecards."""
    category = request.args.get("category") or None
    community = request.args.get("community") or None
    if category not in svc.CATEGORIES:
        category = None
    rows = svc.directory(
        current_session(), category=category, community=community, settings=settings()
    )
    return render_template(
        "commerce/directory.html",
        rows=rows,
        category=category,
        community=community,
        categories=category_choices(),
        communities=community_choices(),
    )


@bp.route("/merchants/<int:merchant_id>")
def merchant_public(merchant_id: int):
    """Public: an approved merchant's offer and scorecard."""
    merchant = svc.fetch(current_session(), Merchant, merchant_id)
    if merchant is None or merchant.status != "approved":
        abort(404)
    card = svc.scorecard(current_session(), merchant.id, settings())
    return render_template("commerce/merchant_public.html", m=merchant, card=card)


@bp.route("/my")
@require(FILE)
def my_tickets():
    person_id = getattr(current_user, "person_id", None)
    rows = (
        list(current_session().scalars(svc.tickets_query(person_id=person_id).limit(50)))
        if person_id
        else []
    )
    return render_template("commerce/my_tickets.html", tickets=rows, verified=bool(person_id))


@bp.route("/my/new", methods=["GET", "POST"])
@require(FILE)
def new_ticket():
    """A resident files a ticket for themselves: where and whom to call come from their
    record (revealed to them, logged) unless they give another address or phone."""
    form = TicketForm()
    form.category.choices = category_choices(blank=True)
    person_id = getattr(current_user, "person_id", None)
    errors: list = []
    if person_id and form.validate_on_submit():
        session = current_session()
        try:
            facts = svc.caller_facts(
                reader(_("Service ticket")), person_id, reveal=("phone", "address")
            )
            person = facts["person"]
            address = (form.service_address.data or "").strip()
            phone = (form.contact_phone.data or "").strip()
            ticket = svc.create_ticket(
                session,
                current_kernel().bus,
                channel="web",
                person_id=person_id,
                community=person.get("community"),
                category=form.category.data,
                description=form.description.data,
                caller_address="" if address == (person.get("address") or "") else address,
                caller_phone="" if svc.same_phone(phone, person.get("phone")) else phone,
                registered_address=bool(person.get("address")),
                public_area=form.public_area.data,
                elderly_alone=person["elderly_alone"],
                actor=current_user,
                settings=settings(),
            )
        except svc.CommerceError as exc:
            put_error(form, exc, errors)
        else:
            session.commit()
            flash(_("Your request was received: ticket %(id)s.", id=ticket.id), "success")
            return redirect(url_for("commerce.my_ticket", ticket_id=ticket.id))
    errors = form_errors(form) if request.method == "POST" else errors
    return render_template(
        "commerce/new_ticket.html", form=form, errors=errors, verified=bool(person_id)
    ), 400 if errors else 200


@bp.route("/one-key", methods=["POST"])
@require(FILE)
def one_key():
    """The one-key call (一键呼叫): one press, a ticket with the resident's registry data,
    and the operator calls back."""
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    session = current_session()
    try:
        ticket = svc.one_key_call(
            session,
            current_kernel().bus,
            reader(_("One-key call")),
            user=current_user,
            settings=settings(),
        )
    except svc.CommerceError as exc:
        flash(exc.text(), "error")
        return redirect(url_for("commerce.index"))
    session.commit()
    flash(_("The hotline will call you back shortly."), "success")
    return redirect(url_for("commerce.my_ticket", ticket_id=ticket.id))


@bp.route("/my/<int:ticket_id>")
@require(FILE)
def my_ticket(ticket_id: int):
    ticket = own_ticket(ticket_id)
    return _my_page(ticket)


def _my_page(
    ticket: Ticket,
    *,
    rate_form: RateForm | None = None,
    complaint_form: ComplaintForm | None = None,
    errors: list | None = None,
    status: int = 200,
) -> Any:
    session = current_session()
    merchant = svc.fetch(session, Merchant, ticket.merchant_id) if ticket.merchant_id else None
    return render_template(
        "commerce/my_ticket.html",
        t=ticket,
        merchant=merchant,
        history=svc.timeline(session, ticket.id),
        rate_form=rate_form or RateForm(formdata=None),
        complaint_form=complaint_form or ComplaintForm(formdata=None),
        confirm_form=FlaskForm(formdata=None),
        errors=errors or [],
        complaints=list(session.scalars(select(Complaint).where(Complaint.ticket_id == ticket.id))),
    ), status


@bp.route("/my/<int:ticket_id>/confirm", methods=["POST"])
@require(FILE)
def my_confirm(ticket_id: int):
    ticket = own_ticket(ticket_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        svc.confirm(current_session(), ticket.id, actor=current_user)
    except svc.CommerceError as exc:
        return _my_page(ticket, errors=[("", exc.text())], status=409)
    current_session().commit()
    flash(_("Thank you. Please rate the service."), "success")
    return redirect(url_for("commerce.my_ticket", ticket_id=ticket.id) + "#rate")


@bp.route("/my/<int:ticket_id>/rate", methods=["POST"])
@require(FILE)
def my_rate(ticket_id: int):
    ticket = own_ticket(ticket_id)
    form = RateForm()
    errors: list = []
    if form.validate_on_submit():
        try:
            svc.rate(
                current_session(),
                current_kernel().bus,
                ticket.id,
                rating=form.rating.data,
                comment=form.comment.data or "",
                actor=current_user,
                via="resident",
            )
        except svc.CommerceError as exc:
            put_error(form, exc, errors)
        else:
            current_session().commit()
            flash(_("Thank you for your rating."), "success")
            return redirect(url_for("commerce.my_ticket", ticket_id=ticket.id))
    return _my_page(ticket, rate_form=form, errors=errors or form_errors(form), status=400)


@bp.route("/my/<int:ticket_id>/complain", methods=["POST"])
@require(FILE)
def my_complain(ticket_id: int):
    ticket = own_ticket(ticket_id)
    form = ComplaintForm()
    errors: list = []
    if form.validate_on_submit():
        try:
            svc.complain(current_session(), ticket.id, text=form.text.data, actor=current_user)
        except svc.CommerceError as exc:
            put_error(form, exc, errors)
        else:
            current_session().commit()
            flash(_("Your complaint was sent to the regulator."), "success")
            return redirect(url_for("commerce.my_ticket", ticket_id=ticket.id))
    return _my_page(ticket, complaint_form=form, errors=errors or form_errors(form), status=400)
