"""The operator's console and the staff's ticket pages: taking a call (a registry
caller or one the registry does not know), the queue, calling back, dispatching, the
follow-up call and cancelling."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from core.toolkit import (
    RegistryError,
    ScopeError,
    current_kernel,
    current_session,
    has_permission,
    require,
)
from plugins.commerce import DISPATCH, READ, access
from plugins.commerce import services as svc
from plugins.commerce.models import Merchant, Ticket
from plugins.commerce.views.common import (
    bp,
    category_choices,
    community_choices,
    form_errors,
    put_error,
    reader,
    settings,
    sweep,
)
from plugins.commerce.views.forms import (
    CallbackForm,
    DispatchForm,
    HotlineTicketForm,
    LookupForm,
    RateForm,
    ReasonForm,
    TicketForm,
    UnregisteredCallerForm,
)


def _registry_phone(rd: Any, person_id: int, phone: str) -> bool:
    """Whether the typed number is the caller's registered one (then nothing is kept)."""
    if not phone:
        return False
    try:
        return any(i["id"] == person_id for i in rd.search(phone=phone, per_page=5).items)
    except (RegistryError, ScopeError):
        return False


@bp.route("/console", methods=["GET", "POST"])
@require(DISPATCH)
def console():
    """The hotline console: the caller's number finds them and their household in the
    registry (posted, so the number never lands in a URL; every person shown is in their
    access log); the ticket form follows. A caller the registry does not know gets the
    unregistered-caller form: what they tell the hotline is kept as their own copy."""
    lookup = LookupForm()
    ticket_form = HotlineTicketForm()
    ticket_form.category.choices = category_choices(blank=True)
    stranger = UnregisteredCallerForm()
    stranger.category.choices = category_choices(blank=True)
    stranger.community.choices = [("", _("Choose a community")), *community_choices()]
    show_stranger = False
    callers: list = []
    errors: list = []
    status = 200
    session = current_session()
    if request.method == "POST" and "unregistered" in request.form:
        show_stranger = True
        if stranger.validate_on_submit():
            try:
                ticket = svc.create_ticket(
                    session,
                    current_kernel().bus,
                    channel="operator",
                    person_id=None,
                    community=stranger.community.data,
                    category=stranger.category.data,
                    description=stranger.description.data,
                    caller_address=stranger.service_address.data or "",
                    caller_phone=stranger.contact_phone.data or "",
                    caller_name=stranger.caller_name.data or "",
                    public_area=stranger.public_area.data,
                    actor=current_user,
                    settings=settings(),
                )
            except svc.CommerceError as exc:
                session.rollback()
                put_error(stranger, exc, errors)
            else:
                session.commit()
                flash(_("Ticket %(id)s opened.", id=ticket.id), "success")
                return redirect(url_for("commerce.ticket", ticket_id=ticket.id))
        errors = errors or form_errors(stranger)
        status = 400
    elif request.method == "POST" and "person_id" in request.form:
        if ticket_form.validate_on_submit():
            try:
                pid = int(ticket_form.person_id.data or 0)
                rd = reader(_("Hotline call"))
                facts = svc.caller_facts(rd, pid)
                person = facts["person"]
                phone = (ticket_form.contact_phone.data or "").strip()
                ticket = svc.create_ticket(
                    session,
                    current_kernel().bus,
                    channel="operator",
                    person_id=pid,
                    community=person.get("community"),
                    category=ticket_form.category.data,
                    description=ticket_form.description.data,
                    caller_address=ticket_form.service_address.data or "",
                    caller_phone="" if _registry_phone(rd, pid, phone) else phone,
                    registered_address=bool(person.get("address")),
                    public_area=ticket_form.public_area.data,
                    elderly_alone=person["elderly_alone"],
                    actor=current_user,
                    settings=settings(),
                )
            except svc.CommerceError as exc:  # before ValueError: it is one
                session.rollback()
                put_error(ticket_form, exc, errors)
            except (ValueError, ScopeError):
                abort(404)
            else:
                session.commit()
                flash(_("Ticket %(id)s opened.", id=ticket.id), "success")
                return redirect(url_for("commerce.ticket", ticket_id=ticket.id))
        errors = errors or form_errors(ticket_form)
        try:
            callers = [
                svc.caller_facts(reader(_("Hotline call")), int(ticket_form.person_id.data or 0))
            ]
        except (ValueError, ScopeError):
            abort(404)
        status = 400
    elif request.method == "POST":
        if lookup.validate_on_submit():
            try:
                callers = svc.lookup_caller(reader(_("Hotline call")), lookup.phone.data)
            except svc.CommerceError as exc:
                put_error(lookup, exc, errors)
            if not callers and not errors:
                errors.append((lookup.phone.id, _("No resident with this number.")))
                lookup.phone.errors = [errors[-1][1]]
                show_stranger = True
                stranger.contact_phone.data = lookup.phone.data
        errors = errors or form_errors(lookup)
        status = 400 if errors else 200
    waiting = list(session.scalars(svc.tickets_query(state="callback").limit(20)))
    contacts = access.contacts(waiting, "hotline")
    page = render_template(
        "commerce/console.html",
        lookup=lookup,
        form=ticket_form,
        stranger=stranger,
        show_stranger=show_stranger,
        callers=callers,
        errors=errors,
        waiting=waiting,
        contacts=contacts,
    )
    session.commit()  # the access-log entries of the lookup and the list
    return page, status


@bp.route("/tickets")
@require(READ)
def queue():
    """The ticket queue: by state, or the overdue queue (SLA clocks). The hotline sees
    every ticket, place-scoped staff those of their communities; callers are shown masked
    (name, phone) and each one shown is logged in their access log."""
    sweep()
    state = request.args.get("state") or None
    overdue = request.args.get("overdue") == "1"
    if state not in svc.STATES:
        state = None
    session = current_session()
    query = svc.tickets_query(state=state, overdue=overdue, communities=access.staff_communities())
    rows = list(session.scalars(query.limit(100)))
    merchants = svc.tickets_by_merchant(session, [t.merchant_id for t in rows if t.merchant_id])
    contacts = access.contacts(rows, svc.staff_role(current_user))
    page = render_template(
        "commerce/queue.html",
        tickets=rows,
        state=state,
        overdue=overdue,
        merchants=merchants,
        is_overdue=svc.is_overdue,
        contacts=contacts,
    )
    session.commit()  # the access-log entries of the persons shown
    return page


def _staff_page(
    ticket: Ticket,
    *,
    errors: list | None = None,
    status: int = 200,
    callback_form: TicketForm | None = None,
) -> Any:
    """The staff ticket page; the caller's contact as this viewer may see it at this step
    (``services.contact_policy``), logged."""
    session = current_session()
    role = access.role_for(ticket, as_staff=True) or svc.staff_role(current_user)
    contact = access.contact(ticket, role)
    merchant = svc.fetch(session, Merchant, ticket.merchant_id) if ticket.merchant_id else None
    dform = DispatchForm(formdata=None)
    candidates = (
        svc.rank_merchants(session, ticket.category, ticket.community, settings=settings())
        if ticket.category
        else []
    )
    dform.merchant_id.choices = [("", _("Best ranked (automatic)"))] + [
        (
            str(m.id),
            _(
                "%(name)s · score %(score)s · %(load)s open",
                name=m.name,
                score=card.score,
                load=card.load,
            ),
        )
        for m, card in candidates
    ]
    cform = callback_form
    if cform is None and ticket.state == "callback":
        cform = CallbackForm(formdata=None)
    if cform is not None:
        cform.category.choices = category_choices(blank=True)
    merchants = svc.tickets_by_merchant(
        session, [d.merchant_id for d in svc.dispatch_log(session, ticket.id)]
    )
    page = render_template(
        "commerce/ticket.html",
        t=ticket,
        contact=contact,
        merchant=merchant,
        history=svc.timeline(session, ticket.id),
        offers=svc.dispatch_log(session, ticket.id),
        offer_merchants=merchants,
        dispatch_form=dform,
        candidates=candidates,
        callback_form=cform,
        rate_form=RateForm(formdata=None),
        cancel_form=ReasonForm(formdata=None),
        errors=errors or [],
        overdue=svc.is_overdue(ticket),
        can_dispatch=has_permission(current_user, DISPATCH),
    )
    session.commit()  # the access-log entries of this display
    return page, status


@bp.route("/tickets/<int:ticket_id>")
@require(READ)
def ticket(ticket_id: int):
    """One ticket for staff: the hotline any, place-scoped staff those of their
    communities (else 404, as for a ticket that does not exist)."""
    found = svc.fetch(current_session(), Ticket, ticket_id)
    if found is None or access.role_for(found, as_staff=True) is None:
        abort(404)
    return _staff_page(found)


def _staff_ticket(ticket_id: int) -> Ticket:
    found = svc.fetch(current_session(), Ticket, ticket_id)
    if found is None:
        abort(404)
    return found


@bp.route("/tickets/<int:ticket_id>/callback", methods=["POST"])
@require(DISPATCH)
def ticket_callback(ticket_id: int):
    """The operator called a one-key caller back and completes the ticket."""
    found = _staff_ticket(ticket_id)
    form = CallbackForm()
    form.category.choices = category_choices(blank=True)
    errors: list = []
    if form.validate_on_submit():
        try:
            registered = True
            if found.person_id is not None:
                rd = reader(_("Hotline call"))
                registered = bool(rd.person(found.person_id).get("address"))
            svc.complete_callback(
                current_session(),
                current_kernel().bus,
                found.id,
                category=form.category.data,
                description=form.description.data,
                caller_address=form.service_address.data or "",
                caller_phone=form.contact_phone.data or "",
                registered_address=registered,
                public_area=form.public_area.data,
                actor=current_user,
                settings=settings(),
            )
        except ScopeError:
            abort(404)
        except svc.CommerceError as exc:
            current_session().rollback()
            put_error(form, exc, errors)
        else:
            current_session().commit()
            flash(_("Ticket %(id)s received.", id=found.id), "success")
            return redirect(url_for("commerce.ticket", ticket_id=found.id))
    return _staff_page(found, errors=errors or form_errors(form), status=400, callback_form=form)


@bp.route("/tickets/<int:ticket_id>/dispatch", methods=["POST"])
@require(DISPATCH)
def ticket_dispatch(ticket_id: int):
    found = _staff_ticket(ticket_id)
    if not FlaskForm().validate_on_submit():  # the CSRF token
        abort(400)
    chosen = request.form.get("merchant_id") or ""
    try:
        merchant_id = int(chosen) if chosen else None
    except ValueError:
        merchant_id = -1  # not a candidate: the service refuses it
    try:
        svc.dispatch(
            current_session(),
            current_kernel().bus,
            found.id,
            merchant_id=merchant_id,
            actor=current_user,
            settings=settings(),
        )
    except svc.CommerceError as exc:
        return _staff_page(found, errors=[("", exc.text())], status=409)
    current_session().commit()
    flash(_("Ticket %(id)s dispatched.", id=found.id), "success")
    return redirect(url_for("commerce.ticket", ticket_id=found.id))


@bp.route("/tickets/<int:ticket_id>/followup", methods=["POST"])
@require(DISPATCH)
def ticket_followup(ticket_id: int):
    """The operator records the follow-up call's (回访) rating."""
    found = _staff_ticket(ticket_id)
    form = RateForm()
    if form.validate_on_submit():
        try:
            svc.rate(
                current_session(),
                current_kernel().bus,
                found.id,
                rating=form.rating.data,
                comment=form.comment.data or "",
                actor=current_user,
                via="operator",
            )
        except svc.CommerceError as exc:
            return _staff_page(found, errors=[("", exc.text())], status=409)
        current_session().commit()
        flash(_("Follow-up recorded."), "success")
        return redirect(url_for("commerce.ticket", ticket_id=found.id))
    return _staff_page(found, errors=form_errors(form), status=400)


@bp.route("/tickets/<int:ticket_id>/cancel", methods=["POST"])
@require(DISPATCH)
def ticket_cancel(ticket_id: int):
    found = _staff_ticket(ticket_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            svc.cancel(current_session(), found.id, reason=form.reason.data, actor=current_user)
        except svc.CommerceError as exc:
            return _staff_page(found, errors=[("", exc.text())], status=409)
        current_session().commit()
        flash(_("Ticket %(id)s cancelled.", id=found.id), "success")
        return redirect(url_for("commerce.ticket", ticket_id=found.id))
    return _staff_page(found, errors=form_errors(form), status=400)
