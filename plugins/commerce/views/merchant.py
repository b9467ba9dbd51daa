"""The merchant's portal (offers to accept or decline, work to start and
complete) and the application to join the hotline."""

from __future__ import annotations

from types import SimpleNamespace

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.toolkit import current_kernel, current_session, require
from plugins.commerce import APPLY, PORTAL, access
from plugins.commerce import services as svc
from plugins.commerce.models import Ticket
from plugins.commerce.views.common import (
    bp,
    category_choices,
    community_choices,
    form_errors,
    merchant_ticket,
    my_merchant,
    put_error,
    reader,
    settings,
    sweep,
)
from plugins.commerce.views.forms import ApplyForm, PortalForm


@bp.route("/portal")
@require(PORTAL)
def portal():
    """The merchant portal: offers waiting for an answer, work in hand, the scorecard."""
    sweep()
    merchant = my_merchant()
    if merchant is None:
        return render_template("commerce/portal.html", merchant=None)
    session = current_session()
    rows = list(session.scalars(svc.tickets_query(merchant_id=merchant.id).limit(100)))
    offers = [t for t in rows if t.state == "dispatched"]
    working = [t for t in rows if t.state in svc.HELD_STATES]
    done = [t for t in rows if t.state in svc.DONE_STATES][:20]
    contacts = access.contacts([*offers, *working, *done], "merchant", merchant_id=merchant.id)
    page = render_template(
        "commerce/portal.html",
        merchant=merchant,
        card=svc.scorecard(session, merchant.id, settings()),
        offers=offers,
        working=working,
        done=done,
        contacts=contacts,
    )
    session.commit()  # the access-log entries of the customers shown
    return page


@bp.route("/portal/tickets/<int:ticket_id>", methods=["GET", "POST"])
@require(PORTAL)
def portal_ticket(ticket_id: int):
    """One ticket as the merchant sees it (the job; contact details once accepted);
    accept, decline, start, complete with the final price."""
    merchant, found = merchant_ticket(ticket_id)
    form = PortalForm()
    errors: list = []
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            session, bus = current_session(), current_kernel().bus
            action = form.action.data
            try:
                if action == "accept":
                    svc.accept(session, bus, found.id, merchant_id=merchant.id, actor=current_user)
                elif action == "decline":
                    svc.decline(
                        session,
                        bus,
                        found.id,
                        merchant_id=merchant.id,
                        reason=form.note.data or "",
                        actor=current_user,
                        settings=settings(),
                    )
                elif action == "start":
                    svc.start_work(session, found.id, merchant_id=merchant.id, actor=current_user)
                elif action == "complete":
                    if form.final_price.data is None:
                        raise svc.CommerceError(svc.N_("Enter the final price."), "final_price")
                    svc.complete(
                        session,
                        bus,
                        found.id,
                        merchant_id=merchant.id,
                        final_price=form.final_price.data,
                        note=form.note.data or "",
                        actor=current_user,
                    )
                else:
                    abort(400)
            except svc.CommerceError as exc:
                put_error(form, exc, errors)
                session.rollback()
                status = exc.status if exc.status in (409,) else 400
            else:
                session.commit()
                flash(_("Ticket %(id)s updated.", id=found.id), "success")
                if action == "decline":
                    return redirect(url_for("commerce.portal"))
                return redirect(url_for("commerce.portal_ticket", ticket_id=found.id))
        else:
            errors = form_errors(form) or [("", _("Choose what to do."))]
            status = 400
        found = svc.fetch(current_session(), Ticket, ticket_id)
        if found is None or found.merchant_id != merchant.id:
            abort(404)
    page = render_template(
        "commerce/portal_ticket.html",
        merchant=merchant,
        t=svc.merchant_view(found, access.contact(found, "merchant", merchant_id=merchant.id)),
        state=found.state,
        form=form,
        errors=errors,
        history=merchant_timeline(found.id),
    )
    current_session().commit()  # the access-log entries of this display
    return page, status


def merchant_timeline(ticket_id: int) -> list[SimpleNamespace]:
    """The timeline as a merchant may see it: what happened and when, without who did it
    or the notes (the resident's and the operator's names are not the merchant's to see)."""
    return [
        SimpleNamespace(kind=e.kind, at=e.at, actor_name="", note="")
        for e in svc.timeline(current_session(), ticket_id)
    ]


@bp.route("/apply", methods=["GET", "POST"])
@require(APPLY)
def apply():
    """A business applies to join the hotline; a regulator vets it."""
    form = ApplyForm()
    form.categories.choices = category_choices()
    form.communities.choices = community_choices()
    existing = my_merchant()
    errors: list = []
    if existing is None and form.validate_on_submit():
        session = current_session()
        try:
            merchant = svc.apply_merchant(
                session,
                reader(_("Merchant application")),
                credit_code=form.credit_code.data,
                name=form.name.data,
                categories=form.categories.data,
                communities=form.communities.data,
                opening_hours=form.opening_hours.data or "",
                price_list=form.price_list.data or "",
                phone=form.phone.data or "",
                user=current_user,
                community_codes={code for code, _name in form.communities.choices},
            )
        except svc.CommerceError as exc:
            put_error(form, exc, errors)
        else:
            session.commit()
            flash(
                _("Application %(id)s received. A regulator will review it.", id=merchant.id),
                "success",
            )
            return redirect(url_for("commerce.portal"))
    errors = errors or (form_errors(form) if request.method == "POST" else [])
    return render_template(
        "commerce/apply.html", form=form, errors=errors, existing=existing
    ), 400 if errors else 200
