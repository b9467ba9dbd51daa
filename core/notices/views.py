"""The notices pages: the list, the new-notice form (pick the place, preview the counts,
send), a notice's progress and delivery report, and the resident's opt-out.

Thin: every rule is in :mod:`core.notices.services`; these pages turn forms into its calls
and its :class:`~core.notices.services.NoticeError` into messages beside the field.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import Optional

from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session
from core.hookspecs import NavItem
from core.identity import has_permission, require, require_login
from core.identity.models import User
from core.notices import services
from core.registry.search import AGE_BANDS
from core.rules import MAX_ID
from core.web.forms import Length, choices, printable

SEND = "notices.send"
READ = "notices.read"

bp = Blueprint("notices", __name__, url_prefix="/notices")

AGE_BAND_LABELS = {
    "child": _l("Children (0–13)"),
    "minor": _l("Minors (0–17)"),
    "youth": _l("Young people (14–34)"),
    "adult": _l("Adults (18–59)"),
    "working": _l("Working age (16–59)"),
    "elder": _l("Aged 60 and over"),
    "elder80": _l("Aged 80 and over"),
}
STATUS_LABELS = {
    "pending": _l("Waiting"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "no_channel": _l("No channel"),
    "opted_out": _l("Opted out"),
}
CHANNEL_LABELS = {"inapp": _l("In the app"), "sms": _l("SMS"), "email": _l("E-mail")}
NOTICE_STATUS_LABELS = {"draft": _l("Draft"), "sending": _l("Sending"), "done": _l("Done")}


def notices_nav(user: Any) -> list[NavItem]:
    """The staff-menu link to the notices, for those who may send or read them."""
    if not getattr(user, "is_authenticated", False):
        return []
    if not (has_permission(user, SEND) or has_permission(user, READ)):
        return []
    return [NavItem(label=str(_l("Notices")), url=url_for("notices.index"), order=150,
                    section="staff")]


class NoticeForm(FlaskForm):
    place = SelectField(_l("Who is it for?"), validate_choice=False)
    age_band = SelectField(_l("Only residents of this age (a community only)"),
                           validate_choice=False)
    sex = SelectField(_l("Only residents of this sex (a community only)"),
                      validate_choice=False)
    urgency = RadioField(
        _l("Urgency"),
        choices=choices([("normal", _l("Normal: residents who opted out get it in the app only")),
                         ("urgent", _l("Urgent (water cut-off, emergency): every channel, "
                                       "opt-outs included"))]),
        default="normal", validate_choice=False,
    )
    title = StringField(_l("Title"), validators=[Optional(), Length(max=services.TITLE_MAX),
                                                 printable])
    body = TextAreaField(_l("Text"), validators=[Optional(), Length(max=services.BODY_MAX),
                                                 printable])


def _fill_choices(form: NoticeForm, places: dict[str, list[tuple[str, str]]]) -> None:
    groups: dict[str, list[tuple[str, str]]] = {}
    for kind, heading in (("building", _("Buildings")), ("grid", _("Grids")),
                          ("community", _("Communities"))):
        groups[heading] = [(f"{kind}:{value}", label) for value, label in places[kind]]
    form.place.choices = groups  # WTForms takes optgroups as a dict
    form.age_band.choices = choices([("", _("Everyone")),
                                     *[(k, str(AGE_BAND_LABELS[k])) for k in AGE_BANDS]])
    form.sex.choices = choices([("", _("Everyone")), ("F", _("Women")), ("M", _("Men"))])


def _audience_data(form: NoticeForm) -> dict[str, Any]:
    kind, _sep, value = (form.place.data or "").partition(":")
    criteria = {"age_band": form.age_band.data or "", "sex": form.sex.data or ""}
    if kind == "community" and any(criteria.values()):
        kind = "group"
    data: dict[str, Any] = {"kind": kind, **criteria}
    if kind == "building":
        data["building_id"] = value
    else:
        data["code"] = value
    return data


_FIELD_OF = {"kind": "place", "code": "place", "building_id": "place"}


def _put_error(form: NoticeForm, exc: services.NoticeError) -> None:
    for name, messages in exc.field_texts().items():
        target = getattr(form, _FIELD_OF.get(name, name), None)
        if target is None:
            target = form.place
        target.errors = [*target.errors, *messages]


def _errors(form: NoticeForm) -> list[tuple[str, str]]:
    return [(f.id, e) for f in form for e in (f.errors or []) if f.name != "csrf_token"]


@bp.route("/")
@require(READ)
def index():
    session = current_session()
    notices = services.list_notices(session, current_user)
    return render_template("notices/index.html", notices=notices,
                           can_send=has_permission(current_user, SEND),
                           status_labels=NOTICE_STATUS_LABELS)


@bp.route("/new", methods=["GET", "POST"])
@require(SEND)
def new():
    """One form in two steps: "Preview" shows the counts for the chosen place; "Send"
    (offered once a preview is shown) sends it."""
    session = current_session()
    form = NoticeForm()
    _fill_choices(form, services.places_for(session, current_user))
    shown = None
    if request.method == "POST" and form.validate():
        action = request.form.get("action", "preview")
        try:
            audience = services.audience_from(_audience_data(form))
            if action == "send":
                notice = services.send_notice(
                    session, current_kernel().bus, current_user, audience,
                    title=form.title.data or "", body=form.body.data or "",
                    urgency=form.urgency.data or "normal", facts=request_facts())
                session.commit()
                flash(_("The notice is being sent to %(num)s accounts.", num=notice.accounts),
                      "success")
                return redirect(url_for("notices.show", notice_id=notice.id))
            shown = services.preview(session, audience, current_user,
                                     urgency=form.urgency.data or "normal")
        except services.NoticeError as exc:
            if exc.status == 403:
                session.rollback()
            _put_error(form, exc)
    status = 400 if _errors(form) else 200  # a form back with messages: 400, as every page
    return render_template("notices/new.html", form=form, preview=shown,
                           errors=_errors(form)), status


@bp.route("/<int:notice_id>")
@require(READ)
def show(notice_id: int):
    session = current_session()
    try:
        notice = services.readable(session, notice_id, current_user)
    except services.NoticeError:
        abort(404)
    data = services.report(session, notice, current_user, facts=request_facts())
    session.commit()  # the access-log entries of the listed residents
    return render_template("notices/show.html", notice=notice, report=data,
                           status_labels=STATUS_LABELS, channel_labels=CHANNEL_LABELS,
                           notice_status_labels=NOTICE_STATUS_LABELS,
                           age_band_labels=AGE_BAND_LABELS)


class PreferencesForm(FlaskForm):
    external = BooleanField(_l("Send me non-urgent notices by SMS and e-mail too"))


@bp.route("/preferences", methods=["GET", "POST"])
@require_login()
def preferences():
    """A resident turns non-urgent notices by SMS and e-mail off or on; in-app notices
    always arrive and urgent ones use every channel."""
    session = current_session()
    account_id = int(current_user.id)
    if not 0 < account_id <= MAX_ID:
        abort(404)
    user = session.get(User, account_id)
    if user is None:
        abort(404)
    form = PreferencesForm()
    if request.method == "GET":
        form.external.data = not user.notices_opt_out
    elif form.validate():
        services.set_opt_out(session, user.id, not form.external.data)
        session.commit()
        flash(_("Your notice settings are saved."), "success")
        return redirect(url_for("notices.preferences"))
    return render_template("notices/preferences.html", form=form, user=user)
