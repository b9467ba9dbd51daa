"""The hotline pages' blueprint and what every page shares: settings, the reader,
form errors from a :class:`~plugins.commerce.services.CommerceError`, the template labels,
the re-dispatch sweep and the object checks (404 for a ticket that is not the viewer's)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, g
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from core.toolkit import (
    RegistryError,
    RegistryReader,
    ScopeError,
    current_kernel,
    current_session,
    plugin_settings,
)
from plugins.commerce import access, info
from plugins.commerce import services as svc
from plugins.commerce.models import Merchant, Ticket

#: Imported as the plugin's package, so ``template_folder`` is ``plugins/commerce/templates``
#: (as when the pages were one module beside it), not one under ``views/``.
bp = Blueprint("commerce", "plugins.commerce", template_folder="templates")


def settings() -> dict[str, Any]:
    return plugin_settings(info.id)


def lang() -> str:
    return str(get_locale() or "zh")[:2]


def reader(purpose: str) -> RegistryReader:
    """The plugin's reader for the signed-in user. The hotline serves every caller of the
    district, so place scope is not enforced; every read is still logged under the real
    actor with the purpose (place-scoped staff read through ``access.contact``)."""
    return access.reader(purpose)


def put_error(form: FlaskForm, exc: svc.CommerceError, errors: list) -> None:
    target = getattr(form, exc.field, None) if exc.field else None
    if target is not None:
        target.errors = [*list(target.errors or []), exc.text()]
        errors.append((target.id, exc.text()))
    else:
        errors.append(("", exc.text()))


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
        "merchant_action": svc.MERCHANT_ACTIONS,
        "outcome": svc.OFFER_OUTCOMES,
        "complaint": svc.COMPLAINT_STATES,
    }[kind]
    return svc.label(table, code, lang())


@bp.app_template_global()
def commerce_duration(hours: float | None) -> str:
    """Hours as the page's language says them (15分钟, 2 h 30 min)."""
    en, zh = svc.duration_words(hours)
    return zh if lang() == "zh" else en


@bp.app_template_global()
def commerce_community(code: str | None) -> str:
    """A community's name for its code (the code itself if the registry does not know it):
    pages name places, they do not show 12-digit codes."""
    if not code:
        return ""
    names = g.get("_commerce_community_names")
    if names is None:
        names = g._commerce_community_names = dict(community_choices())
    return str(names.get(code, code))


@bp.app_template_global()
def commerce_actor(name: str | None) -> str:
    """Who did a step: a person's name, or "the system" for automatic steps."""
    return _("The system") if name == "system" else (name or "")


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
    if svc.redispatch_expired(session, current_kernel().bus, settings=settings()):
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
