"""Staff pages under ``/admin``: accounts, the role × permission matrix, the audit and
access logs, and the outbound SMS and e-mail.

Thin: every rule lives in ``core.identity.services`` (and ``core.audit.services``), which
also writes each change to the audit log with its old and new values. Reading needs
``identity.user.read`` (accounts, roles), ``audit.log.read``, ``audit.access.read`` or
``core.messages.read``; changing needs ``identity.user.manage`` or ``identity.role.manage``.
An auditor therefore reads everything here and is shown no form that writes. No page
updates or deletes a log row: the logs are append-only (see ``core.audit``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from wtforms import (
    BooleanField,
    DateField,
    Form,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from core.audit.services import search_access, search_audit
from core.current import current_kernel
from core.db import current_session, local_zone
from core.hookspecs import NavItem
from core.identity import has_permission, require
from core.identity.models import User
from core.identity.services import (
    IdentityError,
    account_history,
    admin_create_user,
    admin_reset_password,
    change_roles,
    change_scopes,
    count_active_sessions,
    disable_account,
    enable_account,
    end_user_sessions,
    mask_recipient,
    parse_scopes,
    role_states,
    search_messages,
    search_users,
    set_role_permissions,
)

# choices, printable and CheckboxesField live in core.web.forms; importable from here too.
from core.rules import MAX_ID
from core.web.forms import CheckboxesField, Length, choices, printable

bp = Blueprint("identity_admin", __name__, url_prefix="/admin")

USER_READ = "identity.user.read"
USER_MANAGE = "identity.user.manage"
ROLE_MANAGE = "identity.role.manage"
AUDIT_READ = "audit.log.read"
ACCESS_READ = "audit.access.read"
MESSAGES_READ = "core.messages.read"

PAGE_SIZE = 50
HISTORY_LIMIT = 20

ROLE_LABELS = {
    "resident": _l("Resident"),
    "community_worker": _l("Community worker"),
    "committee_member": _l("Committee member"),
    "hotline_operator": _l("Hotline operator"),
    "merchant": _l("Merchant"),
    "security_officer": _l("Security officer"),
    "street_officer": _l("Street office officer"),  # gov_services' reviewer/approver
    "department_staff": _l("Department staff"),  # matters: signs and answers matters
    "grid_worker": _l("Grid worker"),  # grid: visits and patrols in their grids
    "auditor": _l("Auditor"),
    "admin": _l("Administrator"),
}
KIND_LABELS = {"staff": _l("Staff"), "resident": _l("Resident")}
OUTCOME_LABELS = {"ok": _l("Succeeded"), "denied": _l("Denied"), "failed": _l("Unsuccessful")}
MESSAGE_STATUS_LABELS = {
    "recorded": _l("Recorded, not sent"),
    "queued": _l("Waiting to be sent"),
    "sent": _l("Sent"),
    "failed": _l("Sending failed"),
}
CHANNEL_LABELS = {"sms": _l("SMS"), "email": _l("E-mail")}
VERIFICATION_LABELS = {"in_person": _l("in person"), "self": _l("by the resident online")}

#: Core's account and log pages in the staff menu: ``(label, endpoint, permission, order)``.
ADMIN_NAV = (
    (_l("Accounts"), "identity_admin.accounts", USER_READ, 910),
    (_l("Roles and permissions"), "identity_admin.roles", USER_READ, 920),
    (_l("Audit log"), "identity_admin.audit", AUDIT_READ, 930),
    (_l("Access log"), "identity_admin.access", ACCESS_READ, 940),
    (_l("SMS and e-mail"), "identity_admin.messages", MESSAGES_READ, 950),
    (_l("Data exchange"), "exchange_admin.clients", "core.exchange.read", 960),
)


def admin_nav(user: Any) -> list[NavItem]:
    """The staff-menu links to these pages that ``user`` may open."""
    return [
        NavItem(label=str(label), url=url_for(endpoint), order=order, section="admin")
        for label, endpoint, permission, order in ADMIN_NAV
        if endpoint in current_app.view_functions and has_permission(user, permission)
    ]


def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


def _admin() -> User:
    """The account to name in the audit log: the real person acting (never a resident
    being assisted)."""
    return current_user.actor


def _min_length() -> int:
    return current_kernel().config.identity["password_min_length"]


@bp.app_template_global()
def admin_value(value: Any) -> Markup:
    """A logged value for the tables: each stored value in ``<code>`` (escaped), since it is
    the record as written (a code, an id, a username) and not a sentence in the reader's
    language; a role is named by its label; None is a dash, a flag yes or no."""
    if value is None:
        return Markup("—")
    if isinstance(value, bool):
        return escape(_("yes") if value else _("no"))
    if isinstance(value, list | tuple):
        return Markup(", ").join(admin_value(v) for v in value) or Markup("—")
    if isinstance(value, dict):
        return Markup("<code>%s</code>") % json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, str) and value in ROLE_LABELS:
        return escape(role_label(value))
    return Markup("<code>%s</code>") % str(value)


# ------------------------------------------------------------------------------ helpers


@dataclass
class Pager:
    """One page of a query, with links that keep the current filters."""

    items: list[Any]
    page: int
    pages: int
    total: int

    def url(self, page: int) -> str:
        args = {k: v for k, v in request.args.items() if k != "page" and v}
        return url_for(request.endpoint, **(request.view_args or {}), **args, page=page)


def _paginate(session: Session, query: Select) -> Pager:
    try:
        page = max(1, min(int(request.args.get("page", 1)), 100000))
    except ValueError:
        page = 1
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = list(session.scalars(query.limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return Pager(items, page, math.ceil((total or 0) / PAGE_SIZE), total or 0)


def _user_or_404(user_id: int) -> User:
    user = current_session().get(User, user_id)
    if user is None:
        abort(404)
    return user


def _field_errors(*forms: Any) -> list[tuple[str, str]]:
    """``(field id, message)`` for the error summary, in the order the fields appear."""
    out = []
    for form in forms:
        for field in form:
            out += [(field.id, str(e)) for e in field.errors]
        out += [("", str(e)) for e in getattr(form, "form_errors", [])]
    return out


def _put_error(form: Any, exc: IdentityError, fallback: str) -> None:
    """Show a service's refusal beside the field it concerns (translated)."""
    field = getattr(form, exc.field, None) or getattr(form, fallback)
    field.errors = [*field.errors, _(exc.message, **exc.params)]


def _day_start(day: date | None, *, after: bool = False) -> datetime | None:
    """Midnight of ``day`` (or of the day after it) in the deployment's time zone, as UTC:
    "until 3 May" includes all of 3 May where the staff are."""
    if day is None:
        return None
    if after:
        day = day + timedelta(days=1)
    return datetime.combine(day, time.min, tzinfo=local_zone()).astimezone(UTC)


class ActionForm(FlaskForm):
    """A button that changes something: the CSRF token is all it carries."""


# ------------------------------------------------------------------------------ accounts


class AccountSearch(Form):
    q = StringField(_l("Username or name"), validators=[Optional(), Length(max=64), printable])
    role = SelectField(_l("Role"), validators=[Optional()])
    kind = SelectField(
        _l("Kind"),
        choices=choices([("", _l("Any")), ("staff", _l("Staff")), ("resident", _l("Resident"))]),
        validators=[Optional()],
    )
    active = SelectField(
        _l("Status"),
        choices=choices([("", _l("Any")), ("yes", _l("Active")), ("no", _l("Disabled"))]),
        validators=[Optional()],
    )


def _role_choices(any_label: Any = None) -> list[Any]:
    pairs = [(r, role_label(r)) for r in current_kernel().roles]
    return choices([("", str(any_label)), *pairs] if any_label is not None else pairs)


@bp.route("/accounts")
@require(USER_READ)
def accounts():
    form = AccountSearch(request.args)
    form.role.choices = _role_choices(_l("Any"))
    valid = form.validate()
    status = 200 if valid else 400
    query = search_users(
        text=form.q.data if valid else None,
        role=(form.role.data or None) if valid else None,
        kind=(form.kind.data or None) if valid else None,
        active={"yes": True, "no": False}.get(form.active.data or "") if valid else None,
    )
    pager = _paginate(current_session(), query)
    return render_template(
        "admin/accounts.html",
        form=form,
        errors=_field_errors(form),
        pager=pager,
        role_label=role_label,
        kind_labels=KIND_LABELS,
        can_manage=has_permission(current_user, USER_MANAGE),
    ), status


class NewAccountForm(FlaskForm):
    username = StringField(
        _l("Username"),
        validators=[DataRequired(message=_l("Enter a username")), Length(max=32)],
    )
    display_name = StringField(
        _l("Full name"),
        validators=[
            DataRequired(message=_l("Enter the person's name")),
            Length(max=100),
            printable,
        ],
    )
    phone = StringField(_l("Mobile number (optional)"), validators=[Optional(), Length(max=20)])
    roles = CheckboxesField(
        _l("Roles"), validators=[DataRequired(message=_l("Choose at least one role"))]
    )


@bp.route("/accounts/new", methods=["GET", "POST"])
@require(USER_MANAGE)
def account_new():
    kernel = current_kernel()
    form = NewAccountForm()
    form.roles.choices = _role_choices()
    status = 200 if request.method == "GET" else 400
    if form.validate_on_submit():
        session = current_session()
        try:
            user, password = admin_create_user(
                session,
                current_kernel().hasher,
                username=form.username.data,
                display_name=form.display_name.data,
                phone=form.phone.data or None,
                roles=form.roles.data,
                known_roles=kernel.roles,
                admin=_admin(),
                kind="staff",
                min_length=_min_length(),
                bus=kernel.bus,
            )
        except IdentityError as exc:
            session.rollback()
            _put_error(form, exc, "username")
        else:
            session.commit()
            return render_template(
                "admin/account_password.html", user=user, password=password, created=True
            ), 201
    return render_template(
        "admin/account_new.html", form=form, errors=_field_errors(form)
    ), status


class RolesForm(FlaskForm):
    roles = CheckboxesField(_l("Roles of this account"))


class ScopesForm(FlaskForm):
    all_areas = BooleanField(_l("Everywhere (district level)"))
    communities = TextAreaField(
        _l("Communities"),
        validators=[Length(max=2000)],
        description=_l("12-digit division codes, one per line"),
    )
    grids = TextAreaField(
        _l("Grids"), validators=[Length(max=2000)], description=_l("Grid codes, one per line")
    )


class DisableForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for disabling"),
        validators=[
            DataRequired(message=_l("Give the reason for disabling")),
            Length(max=200),
            printable,
        ],
    )


def _account_forms(user: User) -> dict[str, Any]:
    """The detail page's forms, filled from the account and not bound to the request."""
    roles = RolesForm(formdata=None, data={"roles": user.role_names})
    roles.roles.choices = _role_choices()
    scopes = {(s.kind, s.code) for s in user.scopes}
    scope_form = ScopesForm(
        formdata=None,
        data={
            "all_areas": ("all", "") in scopes,
            "communities": "\n".join(sorted(c for k, c in scopes if k == "community")),
            "grids": "\n".join(sorted(c for k, c in scopes if k == "grid")),
        },
    )
    return {"roles_form": roles, "scopes_form": scope_form, "disable_form": DisableForm(None)}


def _render_account(user: User, *, status: int = 200, **bound: Any) -> Any:
    """The detail page; ``bound`` replaces a form by the one the request posted, so its
    input and errors are shown."""
    session = current_session()
    forms = {**_account_forms(user), **bound}
    history = []
    if has_permission(current_user, AUDIT_READ):
        history = list(session.scalars(account_history(user.id).limit(HISTORY_LIMIT)))
    verified_by = session.get(User, user.verified_by_id) if user.verified_by_id else None
    return render_template(
        "admin/account.html",
        user=user,
        phone=mask_recipient(user.phone) if user.phone else "",
        sessions=count_active_sessions(session, user),
        verified_by=verified_by,
        verification_labels=VERIFICATION_LABELS,
        history=history,
        errors=_field_errors(*bound.values()),
        can_manage=has_permission(current_user, USER_MANAGE),
        role_label=role_label,
        kind_labels=KIND_LABELS,
        **forms,
    ), status


@bp.route("/accounts/<int:user_id>")
@require(USER_READ)
def account(user_id: int):
    return _render_account(_user_or_404(user_id))


def _done(user: User, message: str) -> Any:
    current_session().commit()
    flash(message, "success")
    return redirect(url_for("identity_admin.account", user_id=user.id))


@bp.route("/accounts/<int:user_id>/roles", methods=["POST"])
@require(USER_MANAGE)
def account_roles(user_id: int):
    user = _user_or_404(user_id)
    form = RolesForm()
    form.roles.choices = _role_choices()
    if form.validate_on_submit():
        try:
            change_roles(
                current_session(),
                user,
                form.roles.data,
                admin=_admin(),
                known=current_kernel().roles,
            )
        except IdentityError as exc:
            _put_error(form, exc, "roles")
        else:
            return _done(user, _("Roles saved."))
    current_session().rollback()
    return _render_account(user, status=400, roles_form=form)


@bp.route("/accounts/<int:user_id>/scopes", methods=["POST"])
@require(USER_MANAGE)
def account_scopes(user_id: int):
    user = _user_or_404(user_id)
    form = ScopesForm()
    if form.validate_on_submit():
        try:
            scopes = parse_scopes(form.all_areas.data, form.communities.data, form.grids.data)
            change_scopes(current_session(), user, scopes, admin=_admin())
        except IdentityError as exc:
            field = "grids" if "grid" in exc.message else "communities"
            _put_error(form, exc, field)
        else:
            return _done(user, _("Places saved."))
    current_session().rollback()
    return _render_account(user, status=400, scopes_form=form)


@bp.route("/accounts/<int:user_id>/disable", methods=["POST"])
@require(USER_MANAGE)
def account_disable(user_id: int):
    user = _user_or_404(user_id)
    form = DisableForm()
    if form.validate_on_submit():
        try:
            disable_account(current_session(), user, admin=_admin(), reason=form.reason.data)
        except IdentityError as exc:
            _put_error(form, exc, "reason")
        else:
            return _done(user, _("The account is disabled and signed out everywhere."))
    current_session().rollback()
    return _render_account(user, status=400, disable_form=form)


@bp.route("/accounts/<int:user_id>/enable", methods=["POST"])
@require(USER_MANAGE)
def account_enable(user_id: int):
    user = _user_or_404(user_id)
    enable_account(current_session(), user, admin=_admin())
    return _done(user, _("The account is enabled."))


@bp.route("/accounts/<int:user_id>/sessions/end", methods=["POST"])
@require(USER_MANAGE)
def account_end_sessions(user_id: int):
    user = _user_or_404(user_id)
    count = end_user_sessions(current_session(), user, admin=_admin())
    return _done(user, _("%(count)s sessions ended.", count=count))


@bp.route("/accounts/<int:user_id>/password", methods=["POST"])
@require(USER_MANAGE)
def account_reset_password(user_id: int):
    """A temporary password, shown once on this response and never stored in clear."""
    user = _user_or_404(user_id)
    session = current_session()
    try:
        password = admin_reset_password(
            session,
            current_kernel().hasher,
            user,
            admin=_admin(),
            min_length=_min_length(),
        )
    except IdentityError as exc:
        session.rollback()
        flash(_(exc.message, **exc.params), "error")
        return redirect(url_for("identity_admin.account", user_id=user.id))
    session.commit()
    return render_template(
        "admin/account_password.html", user=user, password=password, created=False
    )


# ------------------------------------------------------------------------------ roles


def _permission_groups() -> list[tuple[str, list[Any]]]:
    """Permissions grouped by area (``identity``, ``registry``, a plugin id ...)."""
    groups: dict[str, list[Any]] = {}
    for perm in sorted(current_kernel().permissions.values(), key=lambda p: p.name):
        groups.setdefault(perm.name.split(".", 1)[0], []).append(perm)
    return list(groups.items())


def _locked(role: str, permission: str) -> bool:
    """Permissions the form does not offer to change (the service refuses them too)."""
    return role == "admin" and permission.startswith("identity.")


@bp.route("/roles")
@require(USER_READ)
def roles():
    kernel = current_kernel()
    return render_template(
        "admin/roles.html",
        states=role_states(current_session(), kernel.roles),
        groups=_permission_groups(),
        role_label=role_label,
        can_change=has_permission(current_user, ROLE_MANAGE),
    )


@bp.route("/roles/<role>", methods=["GET", "POST"])
@require(ROLE_MANAGE)
def role(role: str):
    """One role's permissions as tick boxes; saving changes only the boxes shown."""
    kernel = current_kernel()
    if role not in kernel.roles:
        abort(404)
    session = current_session()
    form = ActionForm()
    status, errors = 200, []
    if request.method == "POST":
        status = 400
        shown = {p for p in request.form.getlist("shown") if not _locked(role, p)}
        if not form.validate_on_submit() or not shown:
            errors.append(("", _("The form was incomplete. Reload the page and try again.")))
        else:
            try:
                changed = set_role_permissions(
                    session,
                    role=role,
                    granted=request.form.getlist("permission"),
                    considered=shown,
                    admin=_admin(),
                    defaults=kernel.roles,
                    known_permissions=kernel.permissions,
                )
            except IdentityError as exc:
                session.rollback()
                errors.append(("", _(exc.message, **exc.params)))
            else:
                session.commit()
                kernel.role_cache["at"] = -1.0  # this process sees the change at once
                flash(
                    _(
                        "%(count)s permissions changed for %(role)s.",
                        count=len(changed),
                        role=role_label(role),
                    ),
                    "success",
                )
                return redirect(url_for("identity_admin.roles"))
    state = next(s for s in role_states(session, kernel.roles) if s.role == role)
    return render_template(
        "admin/role.html",
        state=state,
        role=role,
        groups=_permission_groups(),
        locked=_locked,
        errors=errors,
        role_label=role_label,
    ), status


# ------------------------------------------------------------------------------ logs


class DateRange(Form):
    since = DateField(_l("Start date"), validators=[Optional()])
    until = DateField(_l("End date"), validators=[Optional()])

    def validate_until(self, field: Any) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(_l("The end date must not be before the start date"))


class AuditSearch(DateRange):
    action = StringField(
        _l("Action starts with"), validators=[Optional(), Length(max=80), printable]
    )
    actor = StringField(
        _l("Username of who acted"), validators=[Optional(), Length(max=64), printable]
    )
    outcome = SelectField(
        _l("Outcome"),
        choices=choices([("", _l("Any")), *OUTCOME_LABELS.items()]),
        validators=[Optional()],
    )


class AccessSearch(DateRange):
    person_id = IntegerField(
        _l("Person number"),
        validators=[Optional(), NumberRange(
            min=1, max=MAX_ID, message=_l("Enter a person number: a whole number of 1 or more."))]
    )
    actor = StringField(
        _l("Username of who read"), validators=[Optional(), Length(max=64), printable]
    )
    via = StringField(
        _l("Through (core or a plugin id)"), validators=[Optional(), Length(max=40), printable]
    )


def _dates(form: DateRange) -> dict[str, datetime | None]:
    return {
        "since": _day_start(form.since.data),
        "until": _day_start(form.until.data, after=True),
    }


@bp.route("/audit")
@require(AUDIT_READ)
def audit():
    form = AuditSearch(request.args)
    valid = form.validate()
    query = (
        search_audit(
            action=(form.action.data or "").strip() or None,
            actor=(form.actor.data or "").strip() or None,
            outcome=form.outcome.data or None,
            **_dates(form),
        )
        if valid
        else search_audit()
    )
    return render_template(
        "admin/audit.html",
        form=form,
        errors=_field_errors(form),
        pager=_paginate(current_session(), query),
        outcome_labels=OUTCOME_LABELS,
    ), (200 if valid else 400)


@bp.route("/access")
@require(ACCESS_READ)
def access():
    form = AccessSearch(request.args)
    valid = form.validate()
    query = (
        search_access(
            person_id=form.person_id.data,
            actor=(form.actor.data or "").strip() or None,
            via=(form.via.data or "").strip() or None,
            **_dates(form),
        )
        if valid
        else search_access()
    )
    return render_template(
        "admin/access.html",
        form=form,
        errors=_field_errors(form),
        pager=_paginate(current_session(), query),
    ), (200 if valid else 400)


class MessageSearch(Form):
    status = SelectField(
        _l("Status"),
        choices=choices([("", _l("Any")), *MESSAGE_STATUS_LABELS.items()]),
        validators=[Optional()],
    )
    channel = SelectField(
        _l("Channel"),
        choices=choices([("", _l("Any")), *CHANNEL_LABELS.items()]),
        validators=[Optional()],
    )


@bp.route("/messages")
@require(MESSAGES_READ)
def messages():
    from core.identity.services.administration import message_rows

    form = MessageSearch(request.args)
    valid = form.validate()
    query = (
        search_messages(status=form.status.data or None, channel=form.channel.data or None)
        if valid
        else search_messages()
    )
    session = current_session()
    pager = _paginate(session, query)
    return render_template(
        "admin/messages.html",
        form=form,
        errors=_field_errors(form),
        pager=pager,
        rows=message_rows(session, pager.items),
        status_labels=MESSAGE_STATUS_LABELS,
        channel_labels=CHANNEL_LABELS,
    ), (200 if valid else 400)
