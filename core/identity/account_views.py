"""The resident's own account pages under ``/account``: my account, sessions, API tokens,
notifications, who accessed my data, and the assisted channel; sign-up and verification
(two steps each, with a one-time code) are in :mod:`core.identity.signup_views`, on the
same blueprint.

Thin: every rule is in ``core.identity.services`` (and ``core.identity.notifications``);
these views read forms, call a service, commit and render. Sign-in, sign-out and the
password form stay in ``core.identity.views`` (blueprint ``identity``, same URL prefix).
"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace
from typing import Any

from flask import (
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_time, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import Select, func, select
from sqlalchemy.exc import SQLAlchemyError
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, NumberRange

from core.audit.services import access_log_for
from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session, utcnow
from core.identity import require, require_login, require_personal, session_row
from core.identity.account_common import _cfg, _me, bp, field_errors
from core.identity.notifications import (
    mark_read,
    notifications_for,
    read_on_open,
    shown_body,
    shown_title,
    unread_count,
)
from core.identity.services import (
    IdentityError,
    create_own_token,
    display_names,
    end_other_sessions,
    end_own_session,
    find_resident,
    mask_phone,
    own_token,
    own_tokens,
    revoke_token,
    start_assist,
    stop_assist,
)
from core.identity.services import active_sessions as list_active_sessions
from core.web.forms import Length
from core.web.i18n import localized

PER_PAGE = 20

#: Registry fields a resident may see named in their access log.
FIELD_LABELS = {
    "id_number": _l("ID number"),
    "phone": _l("Phone number"),
    "address": _l("Address"),
    "birth_date": _l("Date of birth"),
    "face": _l("Face image"),
    "face_template": _l("Face image"),
    "location": _l("Location"),
    "photo": _l("Photo"),
}


def paged(query: Select) -> SimpleNamespace:
    """One page of ``query`` for a page (``?page=``), with the numbers the pager needs."""
    session = current_session()
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), 100000)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    items = session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return SimpleNamespace(
        items=items, page=page, pages=max(math.ceil(total / PER_PAGE), 1), total=total
    )


def local_link(link: str) -> str:
    """Notification links lead only to pages of this site."""
    if link.startswith("/") and not link.startswith("//") and "\\" not in link:
        return link
    return ""


def describe_device(user_agent: str) -> str:
    """A short, plain description of a browser ("Chrome on Android") for the sessions page."""
    ua = user_agent or ""
    if not ua:
        return _("Unknown device")
    browser = next(
        (
            name
            for pattern, name in (
                (r"MicroMessenger", _("WeChat")),
                (r"Edg/", "Edge"),
                (r"HeadlessChrome", _("Automated browser")),
                (r"Chrome/|CriOS/", "Chrome"),
                (r"Firefox/|FxiOS/", "Firefox"),
                (r"Safari/", "Safari"),
                (r"python|curl|Werkzeug", _("Program")),
            )
            if re.search(pattern, ua, re.I)
        ),
        _("Browser"),
    )
    system = next(
        (
            name
            for pattern, name in (
                (r"HarmonyOS", "HarmonyOS"),
                (r"Android", "Android"),
                (r"iPhone|iPad|iOS", "iOS"),
                (r"Windows", "Windows"),
                (r"Mac OS X|Macintosh", "macOS"),
                (r"Linux", "Linux"),
            )
            if re.search(pattern, ua, re.I)
        ),
        "",
    )
    return _("%(browser)s on %(system)s", browser=browser, system=system) if system else browser


class WholeNumberField(IntegerField):
    """An integer field whose "not a number" message is in our catalogue (WTForms' own
    message would stay English)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            self.data = int(str(valuelist[0]).strip())
        except ValueError as exc:
            self.data = None
            raise ValueError(_("Enter a whole number, such as 30.")) from exc


# ------------------------------------------------------------------------------ header


@bp.app_context_processor
def _account_context() -> dict[str, Any]:
    """The unread badge (one COUNT, signed-in pages only) and the assisted-channel banner."""
    if not getattr(current_user, "is_authenticated", False) or current_user.via_token:
        return {"unread_notifications": 0, "assisting": None}
    if "unread_notifications" not in g:
        try:
            g.unread_notifications = unread_count(current_session(), current_user.id)
        except SQLAlchemyError:  # an error page must still render when the database is down
            g.unread_notifications = 0
    assisting = None
    if current_user.agent is not None:
        row = session_row()
        until = row.acting_until if row is not None else None
        assisting = {
            "name": current_user.user.display_name or current_user.user.username,
            "reason": (current_user.acting_reason or "").rstrip("。.！!；;，, "),
            "until": format_time(until, "HH:mm") if until else "",
        }
    return {"unread_notifications": g.unread_notifications, "assisting": assisting}


@bp.before_app_request
def _read_on_open() -> None:
    """A notification is read when the page it links to is opened (a page, signed in as
    oneself: not through a token, nor by a worker assisting the account)."""
    if (request.method != "GET" or request.path.startswith(("/api/", "/static/"))
            or not getattr(current_user, "is_authenticated", False)
            or current_user.via_token or current_user.agent is not None):
        return
    paths = [request.path]
    if request.query_string:
        paths.append(f"{request.path}?{request.query_string.decode('latin-1')}")
    session = current_session()
    try:
        marked, unread = read_on_open(session, current_user.id, paths)
        if marked:
            session.commit()
        if unread is not None:
            g.unread_notifications = unread  # the badge needs no COUNT of its own
    except SQLAlchemyError:  # the page still opens; the notification stays unread
        session.rollback()


# ------------------------------------------------------------------------------ my account


@bp.route("/")
@require_login("identity.own.profile")
def index():
    user = _me()
    return render_template(
        "account/index.html",
        user=user,
        phone=mask_phone(user.phone),
        # an account named by its mobile number shows the number masked there too (R09)
        username=mask_phone(user.username) if user.username == user.phone else user.username,
        can_tokens="identity.token.create" in current_user.permissions,
        can_assist="identity.assist" in current_user.permissions,
    )


# ------------------------------------------------------------------------------ sessions


@bp.route("/sessions")
@require_personal("identity.own.sessions", verified=False)
def sessions():
    rows = list_active_sessions(current_session(), _me())
    return render_template(
        "account/sessions.html",
        rows=rows,
        current_id=current_user.session_row_id,
        describe=describe_device,
    )


@bp.route("/sessions/<int:session_id>/end", methods=["POST"])
@require_personal("identity.own.sessions", verified=False)
def end_session_view(session_id: int):
    session = current_session()
    user = _me()
    row = end_own_session(session, user, session_id, facts=request_facts())
    if row is None:
        abort(404)
    session.commit()
    if row.id == current_user.session_row_id:
        logout_user()
        flash(_("Signed out."), "success")
        return redirect(url_for("web.home"))
    flash(_("That device has been signed out."), "success")
    return redirect(url_for("account.sessions"))


@bp.route("/sessions/end-others", methods=["POST"])
@require_personal("identity.own.sessions", verified=False)
def end_other_sessions_view():
    session = current_session()
    count = end_other_sessions(
        session, _me(), keep_id=current_user.session_row_id, facts=request_facts()
    )
    session.commit()
    flash(
        _("Signed out on %(n)s other devices.", n=count)
        if count
        else _("You were not signed in on any other device."),
        "success",
    )
    return redirect(url_for("account.sessions"))


# ------------------------------------------------------------------------------ tokens


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name of the token"),
        validators=[
            DataRequired(message=_l("Give the token a name, so you can recognise it later.")),
            Length(max=100),
        ],
    )
    expires_days = WholeNumberField(
        _l("Valid for how many days"),
        default=90,
        validators=[
            InputRequired(message=_l("Enter a number of days from 1 to 3650.")),
            NumberRange(min=1, max=3650, message=_l("Enter a number of days from 1 to 3650.")),
        ],
    )


def _permission_choices() -> list[tuple[str, str]]:
    """The user's own permissions, described in the page's language."""

    known = current_kernel().permissions
    locale = get_locale()
    choices = []
    for name in sorted(current_user.permissions):
        perm = known.get(name)
        label = localized(perm.description, perm.description_zh, locale) if perm else name
        choices.append((name, label))
    return choices


@bp.route("/tokens", methods=["GET", "POST"])
@require_personal("identity.own.tokens", verified=False)
@require("identity.token.create")
def tokens():
    """Personal API tokens: list, create (shown once), revoke."""
    session = current_session()
    user = _me()
    form = TokenForm()
    choices = _permission_choices()
    chosen = request.form.getlist("permissions") if request.method == "POST" else []
    status = 200 if request.method == "GET" else 400
    if form.validate_on_submit():
        try:
            token, plaintext = create_own_token(
                session,
                user,
                name=form.name.data,
                permissions=chosen or None,
                expires_days=form.expires_days.data,
                granted=current_user.permissions,
                facts=request_facts(),
            )
        except IdentityError as exc:
            session.rollback()
            if exc.field == "permissions":
                form.form_errors.append(_(exc.message, **exc.params))
            else:
                field_errors(form, exc, {})
        else:
            session.commit()
            return render_template("account/token_created.html", token=token, plaintext=plaintext)
    return render_template(
        "account/tokens.html",
        form=form,
        rows=own_tokens(session, user),
        choices=choices,
        chosen=set(chosen),
        now=utcnow(),
    ), status


@bp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@require_personal("identity.own.tokens", verified=False)
def revoke_token_view(token_id: int):
    """Revoking needs only the account: someone who lost the permission to create tokens
    must still be able to switch off the ones they made."""
    session = current_session()
    user = _me()
    token = own_token(session, user, token_id)
    if token is None:
        abort(404)
    revoke_token(session, token, actor=user)
    session.commit()
    flash(
        _("The token “%(name)s” has been revoked. It no longer works.", name=token.name), "success"
    )
    if "identity.token.create" in current_user.permissions:
        return redirect(url_for("account.tokens"))
    return redirect(url_for("account.index"))


# ------------------------------------------------------------------------------ notifications


@bp.route("/notifications")
@require_login("identity.own.notifications")
def notifications():
    page = paged(notifications_for(current_user.id))
    # told in this page's language, rendered now (core.identity.notifications.Message)
    return render_template("account/notifications.html", page=page, local_link=local_link,
                           shown_title=shown_title, shown_body=shown_body)


@bp.route("/notifications/<int:note_id>/read", methods=["POST"])
@require_login("identity.own.notifications")
def notification_read(note_id: int):
    session = current_session()
    mark_read(session, current_user.id, [note_id])  # another user's id is simply ignored
    session.commit()
    return redirect(url_for("account.notifications", page=request.form.get("page", 1, type=int)))


@bp.route("/notifications/read-all", methods=["POST"])
@require_login("identity.own.notifications")
def notifications_read_all():
    session = current_session()
    count = mark_read(session, current_user.id)
    session.commit()
    if count:
        flash(_("All notifications are marked as read."), "success")
    return redirect(url_for("account.notifications"))


# ------------------------------------------------------------------------------ access log


@bp.route("/access-log")
@require_login
def access_log():
    """Who saw my personal data (docs/requirements.md R10), in plain words and grouped by day:
    who (role and name, or the other department's system), through which service,
    which fields, partly hidden or in full, how many times, and why."""
    from core.audit.describe import by_day
    from core.db import local_zone
    from core.identity.admin_views import role_label

    user = _me()
    if not user.is_verified:
        return render_template("account/access_log.html", page=None, names={}, days=[])
    page = paged(access_log_for(user.person_id))
    session = current_session()
    names = display_names(session, [e.actor_id for e in page.items])
    def via_label(via: str) -> str:
        if via in ("export", "cli"):
            return _("a download from the community register")
        return _via_label(via)

    days = by_day(page.items, names, zone=local_zone(),
                  role_label=role_label, via_label=via_label)
    return render_template(
        "account/access_log.html",
        page=page,
        names=names,
        days=days,
        field_label=lambda f: FIELD_LABELS.get(f, f),
        via_label=_via_label,
    )


def _via_label(via: str) -> str:
    if via == "core":
        return _("Community register")
    if via == "exchange":
        return _("Data exchange with other departments")
    host = current_kernel().plugins
    record = host.records.get(via)
    info = record.info if record is not None else None
    if info is None:
        return via
    return localized(info.title, info.title_zh)


# ------------------------------------------------------------------------------ assisted channel


class AssistForm(FlaskForm):
    resident = StringField(
        _l("Resident's username or mobile number"),
        validators=[
            DataRequired(message=_l("Enter the resident's username or mobile number")),
            Length(max=64),
        ],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(message=_l("State why you act for this resident.")),
            Length(max=200),
        ],
    )
    minutes = WholeNumberField(
        _l("For how many minutes"),
        validators=[InputRequired(message=_l("Enter a number of minutes."))],
    )


@bp.route("/assist", methods=["GET", "POST"])
@require_login("identity.assist")
def assist():
    """A worker at the counter or on the hotline acts for a resident, for a stated reason
    and a limited time; the banner on every page shows it, with a button to stop. Only
    for residents of the worker's places (hotline operators: anyone); refusals are
    audited."""
    if current_user.agent is not None:
        return render_template("account/assist.html", form=None)
    if "identity.assist" not in current_user.permissions:
        from core.identity import _deny

        _deny(403, "identity.assist")
    form = AssistForm()
    max_minutes = _cfg()["assist_max_minutes"]
    if request.method == "GET":
        form.minutes.data = min(30, max_minutes)
    status = 200 if request.method == "GET" else 400
    if form.validate_on_submit():
        session = current_session()
        row = session_row()
        if row is None:  # a bearer token has no session to act in
            abort(400)
        try:
            resident = find_resident(session, form.resident.data)
            start_assist(
                session,
                row,
                agent=current_user.user,
                resident=resident,
                reason=form.reason.data,
                minutes=form.minutes.data,
                max_minutes=max_minutes,
                facts=request_facts(),
            )
        except IdentityError as exc:
            session.commit()  # nothing was changed; a refusal's audit entry is kept
            field_errors(form, exc, {})
        else:
            session.commit()
            flash(
                _(
                    "You are now acting for %(name)s.",
                    name=resident.display_name or resident.username,
                ),
                "success",
            )
            return redirect(url_for("account.index"))
    return render_template("account/assist.html", form=form, max_minutes=max_minutes), status


@bp.route("/assist/stop", methods=["POST"])
@require_login
def assist_stop():
    if current_user.agent is None:
        return redirect(url_for("account.index"))
    session = current_session()
    row = session_row()
    if row is not None:
        name = current_user.user.display_name or current_user.user.username
        stop_assist(session, row, agent=current_user.agent)
        session.commit()
        flash(_("You no longer act for %(name)s.", name=name), "success")
    return redirect(url_for("account.assist"))

