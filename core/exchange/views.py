"""``/admin/exchange``: exchange clients, what they may receive, their webhooks.

Reading needs ``core.exchange.read``; registering, changing, suspending, rotating and
redelivering need ``core.exchange.manage``. The rules are in ``core.exchange.services``;
these views only turn forms into calls and refusals into messages beside the field.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import SelectMultipleField, StringField, TextAreaField
from wtforms.validators import URL, DataRequired, Optional

from core.current import current_kernel
from core.db import current_session
from core.exchange import services
from core.exchange.models import ExchangeClient, ExchangeDelivery
from core.identity import has_permission, require
from core.rules import MAX_ID
from core.web.forms import Length, choices

bp = Blueprint("exchange_admin", __name__, template_folder="templates")

STATUS_FILTERS = ("queued", "retrying", "failed", "dead", "delivered", "cancelled")


#: How the registry's data scopes read on these pages (core.registry.scopes describes them
#: in English for operators and logs); a scope missing here shows that description.
SCOPE_LABELS = {
    "registry.person.basic": _l("Persons: name, sex, age band, community and grid"),
    "registry.person.identity": _l("ID number and birth date (sensitive)"),
    "registry.person.contact": _l("Phone number (sensitive)"),
    "registry.household": _l("Households: head, members, relation to the head"),
    "registry.dwelling": _l("Buildings, dwellings and who lives where"),
    "registry.organisation": _l("Organisations: name, credit code, type, legal representative"),
    "registry.grid": _l("Streets, communities and grids"),
    "registry.ownership": _l("Dwelling owners: persons, organisations, shares, exclusive areas"),
}


def scope_labels() -> dict[str, str]:
    return {k: str(SCOPE_LABELS.get(k, v)) for k, v in services.offered_scopes().items()}


class CheckboxesField(SelectMultipleField):
    """Tick boxes (rendered by the template); only offered values are accepted."""


class ClientForm(FlaskForm):
    name = StringField(
        _l("Name of the system"),
        validators=[DataRequired(message=_l("Enter the name of the system.")), Length(max=64)],
        description=_l("For example: District civil affairs bureau, elderly allowance system"),
    )
    contact = StringField(
        _l("Contact"),
        validators=[Optional(), Length(max=200)],
        description=_l("Who to call when deliveries fail"),
    )
    callback_url = StringField(
        _l("Webhook address (optional)"),
        validators=[Optional(), URL(require_tld=False), Length(max=500)],
        description=_l("Leave empty if the system pulls the event feed instead"),
    )
    event_types = CheckboxesField(_l("Events it may receive"))
    scopes = CheckboxesField(_l("Registry data it may receive"))


class SuspendForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[DataRequired(message=_l("Give the reason for suspending it.")),
                    Length(max=200)],
    )


def _field_errors(form: Any) -> list[tuple[str, str]]:
    return [(f.id, str(e)) for f in form for e in f.errors]


def _with_choices(form: ClientForm) -> ClientForm:
    bus = current_kernel().bus
    # event names and scope ids are identifiers, the same in every language: in <code>
    form.event_types.choices = choices(
        (n, escape(_("%(event)s (needs %(scope)s)")) % {"event": _code(n), "scope": _code(scope)}
         if scope else _code(n))
        for n in services.offered_event_types(bus)
        for scope in [services.event_scope(bus, n)]
    )
    form.scopes.choices = choices((k, escape(v) + Markup(" (%s)") % _code(k))
                                  for k, v in scope_labels().items())
    return form


def _code(text: str) -> Markup:
    return Markup("<code>%s</code>") % text


def _put_error(form: Any, exc: services.ExchangeError) -> None:
    field = getattr(form, exc.field, None) or form.name
    field.errors = [*field.errors, exc.text()]


def _client(client_id: int) -> ExchangeClient:
    client = current_session().get(ExchangeClient, client_id) if 0 < client_id <= MAX_ID else None
    if client is None:
        abort(404)
    return client


@bp.route("/admin/exchange")
@require("core.exchange.read")
def clients():
    session = current_session()
    return render_template(
        "exchange/clients.html",
        clients=services.list_clients(session),
        scopes=scope_labels(),
        failures=services.list_deliveries(session, status="failed", limit=50),
        can_manage=has_permission(current_user, "core.exchange.manage"),
    )


@bp.route("/admin/exchange/new", methods=["GET", "POST"])
@require("core.exchange.manage")
def client_new():
    form = _with_choices(ClientForm())
    status = 200 if request.method == "GET" else 400
    if form.validate_on_submit():
        session = current_session()
        try:
            client, secret, token = services.create_client(
                session,
                current_kernel().bus,
                name=form.name.data,
                contact=form.contact.data,
                event_types=form.event_types.data,
                scopes=form.scopes.data,
                callback_url=form.callback_url.data,
                actor=current_user.actor,
            )
        except services.ExchangeError as exc:
            session.rollback()
            _put_error(form, exc)
        else:
            session.commit()
            return render_template(
                "exchange/credentials.html", client=client, secret=secret, token=token, created=True
            ), 201
    return render_template(
        "exchange/client_form.html", form=form, client=None, errors=_field_errors(form)
    ), status


@bp.route("/admin/exchange/<int:client_id>")
@require("core.exchange.read")
def client(client_id: int):
    found = _client(client_id)
    status = request.args.get("status") or None
    if status not in STATUS_FILTERS:
        status = None
    session = current_session()
    return render_template(
        "exchange/client.html",
        client=found,
        scopes=scope_labels(),
        deliveries=services.list_deliveries(session, client_id=found.id, status=status, limit=100),
        status=status,
        statuses=STATUS_FILTERS,
        can_manage=has_permission(current_user, "core.exchange.manage"),
        suspend_form=SuspendForm(),
    )


@bp.route("/admin/exchange/<int:client_id>/edit", methods=["GET", "POST"])
@require("core.exchange.manage")
def client_edit(client_id: int):
    found = _client(client_id)
    form = _with_choices(ClientForm(obj=found) if request.method == "GET" else ClientForm())
    status = 200 if request.method == "GET" else 400
    if form.validate_on_submit():
        session = current_session()
        try:
            services.update_client(
                session,
                current_kernel().bus,
                found,
                name=form.name.data,
                contact=form.contact.data,
                event_types=form.event_types.data,
                scopes=form.scopes.data,
                callback_url=form.callback_url.data,
                actor=current_user.actor,
            )
        except services.ExchangeError as exc:
            session.rollback()
            _put_error(form, exc)
        else:
            session.commit()
            flash(_("The client was changed."), "success")
            return redirect(url_for("exchange_admin.client", client_id=found.id))
    return render_template(
        "exchange/client_form.html", form=form, client=found, errors=_field_errors(form)
    ), status


@bp.route("/admin/exchange/<int:client_id>/suspend", methods=["POST"])
@require("core.exchange.manage")
def client_suspend(client_id: int):
    found = _client(client_id)
    form = SuspendForm()
    if not form.validate_on_submit():
        flash(_("Say why the client is suspended."), "error")
        return redirect(url_for("exchange_admin.client", client_id=found.id))
    session = current_session()
    services.suspend_client(session, found, reason=form.reason.data, actor=current_user.actor)
    session.commit()
    flash(_("The client is suspended: it receives nothing until resumed."), "success")
    return redirect(url_for("exchange_admin.client", client_id=found.id))


@bp.route("/admin/exchange/<int:client_id>/resume", methods=["POST"])
@require("core.exchange.manage")
def client_resume(client_id: int):
    found = _client(client_id)
    session = current_session()
    services.resume_client(session, found, actor=current_user.actor)
    session.commit()
    flash(_("The client is active again."), "success")
    return redirect(url_for("exchange_admin.client", client_id=found.id))


@bp.route("/admin/exchange/<int:client_id>/rotate", methods=["POST"])
@require("core.exchange.manage")
def client_rotate(client_id: int):
    """New webhook secret (``what=secret``) or new feed token (``what=token``)."""
    found = _client(client_id)
    session = current_session()
    secret = token = None
    if request.form.get("what") == "token":
        token = services.rotate_token(session, found, actor=current_user.actor)
    else:
        grace = 0 if request.form.get("at_once") else services.ROTATION_GRACE_HOURS
        secret = services.rotate_secret(session, found, grace_hours=grace, actor=current_user.actor)
    session.commit()
    return render_template(
        "exchange/credentials.html", client=found, secret=secret, token=token, created=False
    )


@bp.route("/admin/exchange/deliveries/<int:delivery_id>/redeliver", methods=["POST"])
@require("core.exchange.manage")
def redeliver(delivery_id: int):
    session = current_session()
    row = session.get(ExchangeDelivery, delivery_id) if 0 < delivery_id < 2**62 else None
    if row is None:
        abort(404)
    try:
        done = services.redeliver(
            session, current_kernel().bus, delivery_id, actor=current_user.actor
        )
    except services.ExchangeError as exc:
        session.rollback()
        flash(_(exc.message, **exc.params), "error")
    else:
        session.commit()
        current_kernel().bus.wake()
        if done == "retried":
            flash(_("The dead letter will be tried again."), "success")
        else:
            flash(_("The event was queued for delivery again."), "success")
    return redirect(url_for("exchange_admin.client", client_id=row.client_id))
