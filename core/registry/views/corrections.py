"""Correction requests: the staff review queue, and the resident's own record with
their requests."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

from flask import (
    abort,
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
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional

from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session, local_today
from core.identity import require, require_verified
from core.registry import api as shared
from core.registry import codes
from core.registry.corrections import (
    CORRECTABLE,
    Correction,
    corrections_of,
    decide_correction,
    display_value,
    request_correction,
    review_queue,
    reviewable,
)
from core.registry.errors import ConflictError, RegistryError, ScopeError
from core.registry.models import (
    Household,
    Person,
)
from core.registry.present import REVEALABLE, display_entry, log_displays
from core.registry.views.common import (
    CORRECTION_STATUS,
    REVIEW,
    Pager,
    bp,
    field_errors,
    field_label,
    lang,
    page_size,
    put_errors,
)
from core.registry.views.persons import (
    _page_number,
)
from core.rules import MAX_ID
from core.web.forms import Length, choices, printable

# ------------------------------------------------------------------------------ corrections


class DecisionForm(FlaskForm):
    decision = RadioField(
        _l("Your decision"),
        choices=choices([("approve", _l("Approve: correct the register")),
                         ("refuse", _l("Refuse"))]),
        validators=[InputRequired(message=_l("Choose approve or refuse"))],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=500), printable],
        description=_l("The resident reads this. Needed when you refuse."),
    )
    version = HiddenField()


#: The purpose the review pages log (a msgid: the resident's page translates it).
_CORRECTIONS_PURPOSE = "Reviewing a correction request"


@bp.route("/corrections")
@require(REVIEW)
def corrections():
    session = current_session()
    status = request.args.get("status", "pending")
    if status not in ("pending", "approved", "refused"):
        status = "pending"
    page = _page_number(request.args)
    rows, total = review_queue(session, current_user, status=status, page=page,
                               per_page=(size := page_size()))
    shared.log_names(session, [SimpleNamespace(id=r.correction.person_id, name=r.person_name)
                               for r in rows], purpose=_CORRECTIONS_PURPOSE)
    session.commit()
    pager = Pager(page, max(1, math.ceil(total / size)), total, {"status": status})
    return render_template("registry/corrections.html", rows=rows, pager=pager,
                           status=status, field_label=field_label, total=total)


@bp.route("/corrections/<int:correction_id>", methods=["GET", "POST"])
@require(REVIEW)
def correction(correction_id: int):
    session = current_session()
    found = reviewable(session, current_user, correction_id) if 0 < correction_id <= \
        MAX_ID else None
    if found is None:
        abort(404)
    person_row = session.get(Person, found.person_id)
    form = DecisionForm()
    status = 200
    if request.method == "POST":
        status = 400
        if found.status != "pending":
            form.decision.errors = [_("This request has been answered already.")]
        elif form.validate_on_submit():
            approve = form.decision.data == "approve"
            try:
                version = int(form.version.data) if form.version.data else None
            except ValueError:
                version = None
            try:
                decide_correction(
                    session, found.id, approve=approve, reason=form.reason.data or "",
                    actor=current_user, bus=current_kernel().bus, expected_version=version,
                    link=url_for("registry.my_record"))
            except ConflictError:
                session.rollback()
                form.decision.errors = [_("The record changed while you were deciding. "
                                          "Check the current value and decide again.")]
            except RegistryError as exc:
                session.rollback()
                put_errors(form, exc, {"status": "decision", "version": "decision",
                                       "id_number": "decision", "phone": "decision",
                                       "name": "decision", "birth_date": "decision",
                                       "sex": "decision"}, "decision")
            else:
                session.commit()
                flash(_("Request %(number)s: %(outcome)s. The resident has been told.",
                        number=found.id, outcome=str(CORRECTION_STATUS[found.status])),
                      "success")
                return redirect(url_for("registry.corrections"), 303)
    if person_row is not None:
        form.version.data = str(person_row.version)
        current = getattr(person_row, found.field, None)
    else:
        current = None
    from core.registry.corrections import masked_text, value_text

    current_text = display_value(found.field, masked_text(found.field,
                                                          value_text(found.field, current)),
                                 lang())
    if person_row is not None:
        # the name, the current value masked and the value asked for in full: a full
        # entry for the field under review
        log_displays(session, [display_entry(
            current_user, person_row, fields=(), revealed=sorted({"name", found.field}),
            purpose=_CORRECTIONS_PURPOSE, via="core",
            facts=request_facts())])
        session.commit()
    return render_template("registry/correction.html", c=found, person=person_row, form=form,
                           errors=field_errors(form), field_label=field_label,
                           current_text=current_text,
                           requested_text=display_value(found.field, found.new_value, lang()),
                           ), status


# ------------------------------------------------------------------------------ resident


class CorrectionForm(FlaskForm):
    field = RadioField(_l("What is wrong?"), validators=[Optional()])
    value = StringField(
        _l("What should it be?"),
        validators=[Optional(), Length(max=200), printable],
        description=_l("Write it as it is on your documents. Dates as 1950-03-21; sex as "
                       "male or female."),
    )
    reason = TextAreaField(
        _l("Why is the register wrong?"),
        validators=[Optional(), Length(max=500), printable],
        description=_l("For example: which document shows the right value. A community "
                       "worker checks it, and you get a notification with the answer."),
    )


def _own_person(session: Session) -> Person:
    person = session.get(Person, current_user.person_id) if current_user.person_id else None
    if person is None:
        abort(404)
    return person


def _own_view(session: Session, person: Person, show: bool) -> dict[str, Any]:
    """The resident's own record: masked until they ask, then in full — their own data,
    so no purpose and no access-log entry.

    In the assisted channel the one looking is the agent, so it is not "own": the record
    comes through core's reader (logged with the agent named), masked unless the AGENT
    holds registry.person.reveal, the resident is within the agent's places and a
    purpose is given (``?show=1&purpose=...``)."""
    from core.registry.present import ALL_SCOPES, Places, person_view

    if current_user.agent is None:
        places = Places(session, [person], addresses=True)
        return person_view(person, scopes=ALL_SCOPES,
                           reveal=list(REVEALABLE) if show else (), places=places,
                           lang=lang())
    if show:
        purpose = (request.args.get("purpose") or "").strip()[:500]
        try:
            return shared.reader(session, purpose)._person(person.id, reveal=REVEALABLE)[1]
        except (RegistryError, ScopeError):
            flash(_("While acting for a resident you see their record masked. Showing it "
                    "in full needs your own permission to reveal personal data and a "
                    "stated purpose."), "error")
    return shared.reader(session)._person(person.id)[1]


@bp.route("/me")
@require_verified
def my_record():
    """The resident's own entry in the register: their record, household, home and
    correction requests. In an assisted session what the agent is shown is logged."""
    session = current_session()
    person = _own_person(session)
    show = request.args.get("show") == "1"
    view = _own_view(session, person, show)
    household = None
    if person.household_id:
        members = session.scalars(select(Person).where(Person.household_id ==
                                                       person.household_id)
                                  .order_by(Person.relation, Person.birth_date, Person.id)).all()
        from core.registry.present import age_band, age_on

        if current_user.agent is not None:  # the agent sees the members' names
            shared.log_names(session, [m for m in members if m.id != person.id])
        household = {
            "number": session.scalar(select(Household.number).where(Household.id ==
                                                                     person.household_id)),
            "members": [{
                "name": m.name, "me": m.id == person.id,
                "relation": codes.label(codes.RELATIONS, m.relation, lang()),
                "age_band": age_band(age_on(m.birth_date, local_today())),
            } for m in members],
        }
    if current_user.agent is not None:
        session.commit()  # the access-log entries of what the agent was shown
        show = bool(view.get("revealed"))
    return render_template("registry/my_record.html", view=view, show=show,
                           household=household,
                           corrections=corrections_of(session, person.id),
                           field_label=field_label, display_value=display_value,
                           lang=lang())


def _correction_choices(view: dict[str, Any]) -> list[Any]:
    return choices([(f, field_label(f)) for f in CORRECTABLE])


@bp.route("/me/correction", methods=["GET", "POST"])
@require_verified
def my_correction():
    """Ask for a correction of one field, with a reason."""
    session = current_session()
    person = _own_person(session)
    view = _own_view(session, person, False)
    if current_user.agent is not None:
        session.commit()  # the masked record the agent was shown
    form = CorrectionForm()
    form.field.choices = _correction_choices(view)
    if request.method == "GET" and request.args.get("field") in CORRECTABLE:
        form.field.data = request.args["field"]
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                made = request_correction(session, person_id=person.id,
                                          field=form.field.data or "",
                                          value=form.value.data, reason=form.reason.data,
                                          actor=current_user)
            except RegistryError as exc:
                session.rollback()
                put_errors(form, exc, {}, "value")
                if form.field.data not in CORRECTABLE:
                    form.field.data = None
            else:
                session.commit()
                return redirect(url_for("registry.my_correction_sent", correction_id=made.id),
                                303)
    current = {f: display_value(f, _value_text(view, f), lang()) for f in CORRECTABLE}
    return render_template("registry/my_correction.html", form=form, errors=field_errors(form),
                           current=current, field_label=field_label), status


def _value_text(view: dict[str, Any], field: str) -> str:
    value = view.get(field)
    return "" if value is None else str(value)


@bp.route("/me/corrections/<int:correction_id>")
@require_verified
def my_correction_sent(correction_id: int):
    """A request's confirmation and status page (only the resident's own)."""
    session = current_session()
    found = session.get(Correction, correction_id) if 0 < correction_id <= MAX_ID \
        else None
    if found is None or found.person_id != current_user.person_id:
        abort(404)
    return render_template("registry/my_correction_sent.html", c=found, field_label=field_label,
                           requested_text=display_value(found.field, found.new_value, lang()))
