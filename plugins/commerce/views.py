"""Service hotline pages, mounted by core at ``/commerce``. Thin: every rule is in
``services``; a view reads the form, calls one service, commits and redirects.

Object checks answer 404 (existence does not leak): a resident reaches only tickets of
their own registry person, a merchant's staff only tickets offered to or held by their
merchant.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DecimalField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from core.toolkit import (
    RegistryError,
    RegistryReader,
    Row,
    ScopeError,
    bar_chart,
    current_kernel,
    current_session,
    has_permission,
    plugin_settings,
    require,
)
from plugins.commerce import APPLY, DISPATCH, FILE, PORTAL, READ, STATS, VET, access, info
from plugins.commerce import services as svc
from plugins.commerce.models import Complaint, Merchant, Ticket

bp = Blueprint("commerce", __name__, template_folder="templates")


# ----------------------------------------------------------------------------- helpers


def kernel() -> Any:
    return current_kernel()


def settings() -> dict[str, Any]:
    return plugin_settings(info.id)


def lang() -> str:
    return str(get_locale() or "zh")[:2]


def reader(purpose: str) -> RegistryReader:
    """The plugin's reader for the signed-in user. The hotline serves every caller of the
    district, so place scope is not enforced; every read is still logged under the real
    actor with the purpose (place-scoped staff read through ``access.contact``)."""
    return access.reader(purpose)


def message(exc: svc.CommerceError) -> str:
    return _(exc.message, **exc.params)


def put_error(form: FlaskForm, exc: svc.CommerceError, errors: list) -> None:
    target = getattr(form, exc.field, None) if exc.field else None
    if target is not None:
        target.errors = [*list(target.errors or []), message(exc)]
        errors.append((target.id, message(exc)))
    else:
        errors.append(("", message(exc)))


def form_errors(form: FlaskForm) -> list[tuple[str, str]]:
    return [(f.id, str(e)) for f in form for e in f.errors]


def category_choices(blank: bool = False) -> list[tuple[str, str]]:
    out = [(k, svc.label(svc.CATEGORIES, k, lang())) for k in svc.CATEGORIES]
    return [("", _("Choose a category")), *out] if blank else out


def community_choices() -> list[tuple[str, str]]:
    try:
        rows = reader("").communities()
    except (ScopeError, RegistryError):
        rows = []
    return [(c["code"], c["name"]) for c in rows]


@bp.app_template_global()
def commerce_label(kind: str, code: str | None) -> str:
    table = {
        "category": svc.CATEGORIES,
        "state": svc.STATES,
        "merchant": svc.MERCHANT_STATES,
        "channel": svc.CHANNELS,
    }[kind]
    return svc.label(table, code, lang())


@bp.app_template_global()
def commerce_event_label(kind: str) -> str:
    return str(EVENT_LABELS.get(kind, kind))


EVENT_LABELS = {
    "created": _l("Ticket opened"),
    "callback_requested": _l("Asked the hotline to call back"),
    "called_back": _l("The operator called back"),
    "dispatched": _l("Offered to a merchant"),
    "no_merchant": _l("No merchant available: the operator dispatches by hand"),
    "accepted": _l("Accepted by the merchant"),
    "declined": _l("Declined by the merchant"),
    "expired": _l("Not accepted in time: offered to the next merchant"),
    "withdrawn": _l("Offer withdrawn (merchant suspended)"),
    "started": _l("Work started"),
    "completed": _l("Work completed"),
    "confirmed": _l("Confirmed by the resident"),
    "rated": _l("Follow-up rating"),
    "complaint": _l("Complaint filed"),
    "cancelled": _l("Cancelled"),
    "resident_moved": _l("The resident moved (registry)"),
    "resident_deceased": _l("The resident died (registry)"),
    "caller_data_erased": _l("The caller's own details were erased (retention period)"),
}


def sweep() -> None:
    """Re-dispatch offers that were not accepted in time. Core has no scheduler, so the
    pages staff and merchants open run it too (besides ``shequ commerce redispatch``)."""
    session = current_session()
    if svc.redispatch_expired(session, kernel().bus, settings=settings()):
        session.commit()


def own_ticket(ticket_id: int) -> Ticket:
    """A ticket of the signed-in resident's own registry person, else 404."""
    ticket = svc.fetch(current_session(), Ticket, ticket_id)
    person_id = getattr(current_user, "person_id", None)
    if ticket is None or person_id is None or ticket.person_id != person_id:
        abort(404)
    return ticket


def my_merchant() -> Merchant | None:
    return svc.merchant_for_user(current_session(), current_user.id)


def merchant_ticket(ticket_id: int) -> tuple[Merchant, Ticket]:
    """A ticket offered to or held by the signed-in staff's merchant, else 404."""
    merchant = my_merchant()
    ticket = svc.fetch(current_session(), Ticket, ticket_id)
    if merchant is None or ticket is None or ticket.merchant_id != merchant.id:
        abort(404)
    return merchant, ticket


# ----------------------------------------------------------------------------- forms


class TicketForm(FlaskForm):
    category = SelectField(
        _l("What do you need?"), validators=[DataRequired(message=_l("Choose a service category"))]
    )
    description = TextAreaField(
        _l("Describe the need"),
        validators=[DataRequired(message=_l("Describe what you need")), Length(max=2000)],
    )
    service_address = StringField(
        _l("Address for the service"), validators=[Optional(), Length(max=300)]
    )
    contact_phone = StringField(
        _l("Phone for the merchant to call"), validators=[Optional(), Length(max=30)]
    )
    public_area = BooleanField(_l("This is in a public area (e.g. a common corridor)"))


class HotlineTicketForm(TicketForm):
    """A registry caller: address and phone only when they differ from the registered
    ones (what is typed is kept as the caller's own copy)."""

    person_id = HiddenField()
    service_address = StringField(
        _l("Address for the service, if not the registered address"),
        validators=[Optional(), Length(max=300)],
    )
    contact_phone = StringField(
        _l("Another phone for the merchant to call"), validators=[Optional(), Length(max=30)]
    )


class UnregisteredCallerForm(TicketForm):
    """A caller the registry does not know: what they tell the hotline is kept as their
    own copy (masked, shown in full only to the merchant holding the ticket open, erased
    after the retention period)."""

    unregistered = HiddenField(default="1")
    caller_name = StringField(
        _l("Caller's name"),
        validators=[DataRequired(message=_l("Ask the caller for their name")), Length(max=50)],
    )
    contact_phone = StringField(
        _l("Caller's phone number"),
        validators=[DataRequired(message=_l("Type the caller's number")), Length(max=30)],
    )
    service_address = StringField(
        _l("Address for the service"),
        validators=[DataRequired(message=_l("Confirm the address")), Length(max=300)],
    )
    community = SelectField(
        _l("Community"), validators=[DataRequired(message=_l("Choose the caller's community"))]
    )


class CallbackForm(TicketForm):
    """The operator completes a one-key call: address and phone only if not the
    registered ones."""

    service_address = StringField(
        _l("Address for the service, if not the registered address"),
        validators=[Optional(), Length(max=300)],
    )
    contact_phone = StringField(
        _l("Another phone for the merchant to call"), validators=[Optional(), Length(max=30)]
    )


class LookupForm(FlaskForm):
    phone = StringField(
        _l("Caller's phone number"),
        validators=[DataRequired(message=_l("Type the caller's number")), Length(max=30)],
    )


class RateForm(FlaskForm):
    rating = RadioField(
        _l("How satisfied are you?"),
        choices=[
            ("5", _l("5 — very satisfied")),
            ("4", _l("4 — satisfied")),
            ("3", _l("3 — neutral")),
            ("2", _l("2 — dissatisfied")),
            ("1", _l("1 — very dissatisfied")),
        ],
        validators=[InputRequired(message=_l("Choose a rating"))],
    )
    comment = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=500)])


class ComplaintForm(FlaskForm):
    text = TextAreaField(
        _l("What went wrong?"),
        validators=[DataRequired(message=_l("Say what went wrong")), Length(max=1000)],
    )


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"), validators=[DataRequired(message=_l("Give a reason")), Length(max=500)]
    )


class DispatchForm(FlaskForm):
    merchant_id = SelectField(_l("Merchant"), validators=[Optional()])


class PortalForm(FlaskForm):
    action = HiddenField(validators=[DataRequired()])
    final_price = DecimalField(
        _l("Final price (yuan)"), places=2, validators=[Optional(), NumberRange(min=0, max=1000000)]
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])


class ApplyForm(FlaskForm):
    credit_code = StringField(
        _l("Unified social credit code"),
        validators=[DataRequired(message=_l("Enter the credit code")), Length(min=18, max=18)],
    )
    name = StringField(
        _l("Shop name"),
        validators=[DataRequired(message=_l("Enter the shop name")), Length(max=100)],
    )
    categories = SelectMultipleField(
        _l("Services offered"), validators=[DataRequired(message=_l("Choose at least one service"))]
    )
    communities = SelectMultipleField(
        _l("Communities served"),
        validators=[DataRequired(message=_l("Choose at least one community"))],
    )
    opening_hours = StringField(_l("Opening hours"), validators=[Optional(), Length(max=200)])
    price_list = TextAreaField(_l("Price list"), validators=[Optional(), Length(max=2000)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=30)])


class DecisionForm(FlaskForm):
    action = RadioField(_l("Decision"), validators=[InputRequired(message=_l("Choose a decision"))])
    reason = TextAreaField(
        _l("Reason"), validators=[DataRequired(message=_l("Give a reason")), Length(max=500)]
    )


# ----------------------------------------------------------------------------- public


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


# ----------------------------------------------------------------------------- residents


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
                kernel().bus,
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
            session, kernel().bus, reader(_("One-key call")), user=current_user, settings=settings()
        )
    except svc.CommerceError as exc:
        flash(message(exc), "error")
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
        return _my_page(ticket, errors=[("", message(exc))], status=409)
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
                kernel().bus,
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


# ----------------------------------------------------------------------------- operator


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
                    kernel().bus,
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
                    kernel().bus,
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
    query = svc.tickets_query(
        state=state, overdue=overdue, communities=access.staff_communities()
    )
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
                kernel().bus,
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
            kernel().bus,
            found.id,
            merchant_id=merchant_id,
            actor=current_user,
            settings=settings(),
        )
    except svc.CommerceError as exc:
        return _staff_page(found, errors=[("", message(exc))], status=409)
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
                kernel().bus,
                found.id,
                rating=form.rating.data,
                comment=form.comment.data or "",
                actor=current_user,
                via="operator",
            )
        except svc.CommerceError as exc:
            return _staff_page(found, errors=[("", message(exc))], status=409)
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
            return _staff_page(found, errors=[("", message(exc))], status=409)
        current_session().commit()
        flash(_("Ticket %(id)s cancelled.", id=found.id), "success")
        return redirect(url_for("commerce.ticket", ticket_id=found.id))
    return _staff_page(found, errors=form_errors(form), status=400)


# ----------------------------------------------------------------------------- merchants


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
            session, bus = current_session(), kernel().bus
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


# ----------------------------------------------------------------------------- regulator


@bp.route("/regulator/merchants")
@require(VET)
def reg_merchants():
    session = current_session()
    rows = list(session.scalars(svc.merchants_query()))
    cards = svc.scorecards(session, [m.id for m in rows], settings())
    complaints = list(session.scalars(select(Complaint).where(Complaint.status == "open")))
    return render_template(
        "commerce/reg_merchants.html", rows=rows, cards=cards, open_complaints=len(complaints)
    )


@bp.route("/regulator/merchants/<int:merchant_id>", methods=["GET", "POST"])
@require(VET)
def reg_merchant(merchant_id: int):
    session = current_session()
    merchant = svc.fetch(session, Merchant, merchant_id)
    if merchant is None:
        abort(404)
    form = DecisionForm()
    form.action.choices = [
        (a, DECISION_LABELS[a]) for a, (src, _n) in svc.DECISIONS.items() if merchant.status in src
    ]
    errors: list = []
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                svc.decide_merchant(
                    session,
                    kernel().bus,
                    merchant.id,
                    action=form.action.data,
                    reason=form.reason.data,
                    actor=current_user,
                    settings=settings(),
                )
            except svc.CommerceError as exc:
                put_error(form, exc, errors)
            else:
                session.commit()
                flash(_("Decision recorded."), "success")
                return redirect(url_for("commerce.reg_merchant", merchant_id=merchant.id))
        errors = errors or form_errors(form)
    org = reader(_("Merchant vetting")).organisation(merchant.organisation_id)
    return render_template(
        "commerce/reg_merchant.html",
        m=merchant,
        org=org,
        form=form,
        errors=errors,
        card=svc.scorecard(session, merchant.id, settings()),
        log=svc.merchant_log(session, merchant.id),
        complaints=list(
            session.scalars(select(Complaint).where(Complaint.merchant_id == merchant.id))
        ),
    ), 400 if errors else 200


DECISION_LABELS = {
    "approve": _l("Approve (or reinstate)"),
    "suspend": _l("Suspend: no more tickets"),
    "revoke": _l("Revoke"),
    "warn": _l("Warn"),
    "dismiss": _l("Dismiss the complaint"),
}


@bp.route("/regulator/complaints")
@require(VET)
def complaints():
    session = current_session()
    rows = list(session.scalars(select(Complaint).order_by(Complaint.created_at.desc()).limit(100)))
    merchants = svc.tickets_by_merchant(session, [c.merchant_id for c in rows])
    return render_template("commerce/complaints.html", rows=rows, merchants=merchants)


@bp.route("/regulator/complaints/<int:complaint_id>", methods=["GET", "POST"])
@require(VET)
def complaint(complaint_id: int):
    session = current_session()
    found = svc.fetch(session, Complaint, complaint_id)
    if found is None:
        abort(404)
    form = DecisionForm()
    form.action.choices = [(a, DECISION_LABELS[a]) for a in ("dismiss", "warn", "suspend")]
    errors: list = []
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                svc.decide_complaint(
                    session,
                    kernel().bus,
                    found.id,
                    action=form.action.data,
                    note=form.reason.data,
                    actor=current_user,
                    settings=settings(),
                )
            except svc.CommerceError as exc:
                put_error(form, exc, errors)
            else:
                session.commit()
                flash(_("Decision recorded."), "success")
                return redirect(url_for("commerce.complaint", complaint_id=found.id))
        errors = errors or form_errors(form)
    return render_template(
        "commerce/complaint.html",
        c=found,
        merchant=svc.fetch(session, Merchant, found.merchant_id),
        ticket=svc.fetch(session, Ticket, found.ticket_id),
        form=form,
        errors=errors,
    ), 400 if errors else 200


# ----------------------------------------------------------------------------- statistics


@bp.route("/stats")
@require(STATS)
def stats():
    """Tickets by category and state, times and satisfaction, as server-drawn SVG bar
    charts with the same numbers in tables."""
    data = svc.statistics(current_session())
    cat_rows = [Row(k, svc.label(svc.CATEGORIES, k, lang()), n) for k, n in data.by_category]
    state_rows = [Row(k, svc.label(svc.STATES, k, lang()), n) for k, n in data.by_state]
    rating_rows = [Row(k, _("%(n)s stars", n=k), n) for k, n in data.ratings]
    charts = {
        "category": bar_chart(cat_rows, title=_("Tickets by category"), chart_id="by-category"),
        "state": bar_chart(state_rows, title=_("Tickets by state"), chart_id="by-state"),
        "rating": bar_chart(rating_rows, title=_("Satisfaction ratings"), chart_id="by-rating"),
    }
    return render_template(
        "commerce/stats.html",
        data=data,
        charts=charts,
        cat_rows=cat_rows,
        state_rows=state_rows,
        rating_rows=rating_rows,
    )
