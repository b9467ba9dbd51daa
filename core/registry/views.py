"""The registry's pages under ``/registry``: the staff search, a person (masked, with a
reveal form, history, household, residence timeline and plugins' panels), households,
buildings, organisations, import (upload → check → confirm → result), export, the
population dashboard and the correction requests; and the resident's own record with
their correction requests.

Thin, like the API (``core.registry.api``, whose helpers these pages share): every rule is
in the data layer, and every page works without JavaScript.

**Personal data never lands in a URL** (security.md R26). The search form is a POST form:
a name or pinyin query is redirected to a bookmarkable ``GET`` address, but an ID number,
a phone, the last four digits or an address is answered directly from the POST (its
"next page" buttons post again), and a ``GET`` carrying one is refused.

**The resident's own record** is masked on first view, like every record: a phone held
up on a bus shows no ID number. One button ("Show my full details") shows their own values
in full; it is their own data, so it needs no purpose and is not written to the access
log — that log tells residents who *else* looked. Household members stay masked (name,
relation, age band): their data is theirs.
"""

from __future__ import annotations

import io
import json
import math
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import Form, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from core.audit.web import request_facts
from core.current import current_kernel
from core.db import current_session
from core.exports import csv_writer
from core.hookspecs import NavItem
from core.identity import has_permission, require, require_verified
from core.identity.models import User
from core.registry import api as shared
from core.registry import codes
from core.registry import services as registry
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
from core.registry.dashboard import bar_chart, population
from core.registry.errors import ConflictError, RegistryError, ScopeError
from core.registry.importer import export_persons
from core.registry.models import (
    Building,
    Change,
    Community,
    Dwelling,
    Grid,
    Household,
    Organisation,
    Person,
    Residence,
    Unit,
)
from core.registry.present import REVEALABLE, display_entry, log_displays, mask_address
from core.registry.search import AGE_BANDS
from core.rules import N_
from core.web.forms import CheckboxesField, choices, printable

bp = Blueprint("registry", __name__, url_prefix="/registry")

READ, WRITE, REVEAL = shared.READ, shared.WRITE, shared.REVEAL
ORG_READ, IMPORT = shared.ORG_READ, shared.IMPORT
EXPORT, REVIEW, DASHBOARD = ("registry.export", "registry.correction.review",
                             "registry.dashboard.read")
PER_PAGE = 20
HISTORY_LIMIT = 50
IMPORT_TTL = 24 * 3600
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

#: The registry's entries in the staff menu: ``(label, endpoint, permission, order)``.
STAFF_NAV = (
    (_l("Residents"), "registry.search", READ, 300),
    (_l("Organisations"), "registry.organisations", ORG_READ, 310),
    (_l("Import"), "registry.import_start", IMPORT, 320),
    (_l("Corrections"), "registry.corrections", REVIEW, 330),
    (_l("Dashboard"), "registry.dashboard", DASHBOARD, 340),
)

#: How each field of a person is called on the pages (and in correction requests).
FIELD_LABELS = {
    "name": _l("Full name"),
    "id_type": _l("Document type"),
    "id_number": _l("ID number"),
    "sex": _l("Sex"),
    "birth_date": _l("Date of birth"),
    "phone": _l("Phone number"),
    "ethnicity": _l("Ethnic group"),
    "nationality": _l("Nationality"),
    "hukou_type": _l("Hukou type"),
    "hukou_place": _l("Hukou place"),
    "address": _l("Address"),
    "status": _l("Status"),
    "died_on": _l("Date of death"),
    "dwelling_id": _l("Dwelling"),
    "community_id": _l("Community"),
    "grid_id": _l("Grid"),
    "household_id": _l("Household"),
    "relation": _l("Relation to the head"),
    "merged_into_id": _l("Merged into"),
    "head_id": _l("Head of household"),
    "community": _l("Community code"),
    "grid": _l("Grid code"),
    "road": _l("Road and number"),
    "estate": _l("Estate"),
    "building": _l("Building"),
    "unit": _l("Unit"),
    "room": _l("Room"),
    "residence_role": _l("Lives there as"),
    "moved_in": _l("Moved in on"),
    "household_no": _l("Household number"),
    "header": _l("Header row"),
    "file": _l("File"),
    "*": _l("Record"),
}
AGE_BAND_LABELS = {
    "child": _l("Children (0–13)"),
    "minor": _l("Minors (0–17)"),
    "youth": _l("Young people (14–34)"),
    "adult": _l("Adults (18–59)"),
    "working": _l("Working age (16–59)"),
    "elder": _l("Older people (60+)"),
    "elder80": _l("80 and over"),
}
MATCH_LABELS = {
    "exact": _l("same name"),
    "name": _l("name starts with"),
    "pinyin": _l("pinyin"),
    "initials": _l("pinyin initials"),
    "reading": _l("another reading"),
    "mixed": _l("name and pinyin"),
    "id_number": _l("ID number"),
    "id_last4": _l("name and last four digits"),
    "phone": _l("phone number"),
    "address": _l("address"),
    "all": _l("filters"),
}
STATUS_TAGS = {"active": "tag-ok", "moved_out": "tag-off", "deceased": "tag-off",
               "merged": "tag-warn", "pending": "tag-new", "approved": "tag-ok",
               "refused": "tag-failed"}
CORRECTION_STATUS = {"pending": _l("Waiting for a decision"), "approved": _l("Approved"),
                     "refused": _l("Refused")}
SENSITIVE_KINDS = shared.SENSITIVE_KINDS


#: Messages of the data layer (validation, importer, search) that reach these pages but
#: are not marked for extraction where they are raised: listed here so the catalogue has
#: them and a rejected row reads in Chinese. (Messages built with f-strings, such as
#: "No community with code …", cannot be translated; they stay English.)
DATA_LAYER_MESSAGES = (
    N_("An ID number has 18 characters: 17 digits and a digit or X."),
    N_("The birth date in the ID number is not a real date."),
    N_("The birth date in the ID number is out of range."),
    N_("The ID number does not start with a province code."),
    N_("The check character of the ID number is wrong."),
    N_("The document number has an unexpected format."),
    N_("A credit code has 18 characters: digits and capital letters except I, O, Z, S, V."),
    N_("The check character of the credit code is wrong."),
    N_("A mainland mobile number has 11 digits starting 13–19."),
    N_("This mobile prefix is not allocated."),
    N_("A landline is 0, the area code and 7–8 digits."),
    N_("A community is its 12-digit division code (last three digits 001–399)."),
    N_("The division code does not start with a province."),
    N_("A street is its 9-digit township code."),
    N_("Excel stored this ID number as a number and lost digits; format the column as text "
       "and enter it again."),
    N_("The document number is required."),
    N_("The community code is required."),
    N_("A room number needs a building."),
    N_("Give the room number (房号)."),
    N_("The moving-in date is in the future."),
    N_("A relation needs the household number (户号)."),
    N_("Give the relation to the head of household."),
    N_("The column %(column)s appears twice."),
    N_("Required columns are missing: %(columns)s."),
    N_("The last four digits need a name with them."),
    N_("State the purpose of revealing personal data."),
    N_("The file cannot be read as CSV or XLSX."),  # shared.UNREADABLE
    N_("This community is outside the places you are assigned."),
    N_("This document number belongs to a person registered outside the places you are "
       "assigned."),
)


# ------------------------------------------------------------------------------ helpers


def registry_nav(user: Any) -> list[NavItem]:
    """The registry's links for ``user``: the staff entries they may open, and "My
    record" for a verified resident."""
    if not getattr(user, "is_authenticated", False):
        return []
    items = [
        NavItem(label=str(label), url=url_for(endpoint), order=order, section="staff")
        for label, endpoint, permission, order in STAFF_NAV
        if has_permission(user, permission)
    ]
    if user.is_verified:
        items.append(NavItem(label=str(_l("My record")), url=url_for("registry.my_record"),
                             order=60, section="main"))
    return items


def lang() -> str:
    return shared.lang()


def field_label(name: str) -> str:
    return str(FIELD_LABELS.get(name, name))


def message(text: str) -> str:
    """A data-layer message (an English msgid) in the page's language."""
    return _(text) if text else ""


def refusal(exc: RegistryError) -> str:
    return _(exc.message, **exc.params) if exc.params else _(exc.message)


def field_errors(*forms: Any) -> list[tuple[str, str]]:
    out = []
    for form in forms:
        for f in form:
            out += [(f.id, str(e)) for e in f.errors]
    return out


def put_errors(form: Any, exc: RegistryError, mapping: dict[str, str] | None = None,
               fallback: str = "") -> None:
    """Show each of a service's problems beside the field it concerns."""
    problems = exc.errors or {exc.field: str(exc)}
    for key, text in problems.items():
        name = (mapping or {}).get(key, key)
        target = getattr(form, name, None) or getattr(form, fallback, None) or next(iter(form))
        msg = refusal(exc) if key == exc.field and text == str(exc) else message(text)
        if isinstance(target.errors, tuple):
            target.errors = list(target.errors)
        target.errors = [*target.errors, msg]


def scope_communities(session: Session) -> list[tuple[str, str]]:
    """(code, name) of the communities the signed-in staff member works in."""
    scopes = {(s.kind, s.code) for s in (getattr(current_user, "scopes", None) or [])}
    query = select(Community.code, Community.name).order_by(Community.code)
    if ("all", "") not in scopes:
        codes_ = [c for k, c in scopes if k == "community"]
        grids = [c for k, c in scopes if k == "grid"]
        if not codes_ and not grids:
            return []
        from sqlalchemy import or_

        query = query.where(or_(
            Community.code.in_(codes_),
            Community.id.in_(select(Grid.community_id).where(Grid.code.in_(grids)))))
    return [(c, n) for c, n in session.execute(query)]


def number(value: Any) -> str:
    return format_decimal(value)


def percent(share: float) -> str:
    return format_percent(share, format="#,##0.0%")


CODE_TABLES = {"status": codes.STATUSES, "hukou": codes.HUKOU_TYPES,
               "relation": codes.RELATIONS, "id_type": codes.ID_TYPES,
               "role": codes.RESIDENCE_ROLES, "kind": codes.HOUSEHOLD_KINDS}


@bp.app_template_global()
def registry_label(table: str, code: str | None) -> str:
    """A code's label in the page's language (the reader's views carry Chinese labels)."""
    return codes.label(CODE_TABLES[table], code, lang()) or (code or "")


@bp.app_template_global()
def registry_status_tag(status: str, label: str = "") -> Any:
    from markupsafe import Markup, escape

    text = label or str(CORRECTION_STATUS.get(status, status))
    cls = STATUS_TAGS.get(status, "")
    return Markup(f'<span class="tag {cls}">{escape(text)}</span>')  # noqa: S704


@dataclass
class Pager:
    page: int
    pages: int
    total: int
    args: dict[str, Any]

    def url(self, page: int) -> str:
        return url_for(request.endpoint, **(request.view_args or {}), **self.args, page=page)


# ------------------------------------------------------------------------------ search


class SearchForm(Form):
    q = StringField(
        _l("Name, pinyin, phone, ID number or address"),
        validators=[Optional(), Length(max=100), printable],
        description=_l("For example 张三, zhangsan, zs, 张 002X (name and the last four "
                       "digits of the ID number), 13812345678 or 3栋2单元1502."),
    )
    community = SelectField(_l("Community"), validators=[Optional()])
    grid = StringField(_l("Grid code"), validators=[Optional(), Length(max=32), printable])
    age_band = SelectField(_l("Age"), validators=[Optional()])
    hukou_type = SelectField(_l("Hukou type"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()], default="active")


FILTERS = ("community", "grid", "age_band", "hukou_type", "status")


def _search_form(session: Session, source: Any) -> SearchForm:
    form = SearchForm(source)
    form.community.choices = choices([("", _("All my communities")),
                                      *[(c, f"{n} ({c})") for c, n in
                                        scope_communities(session)]])
    form.age_band.choices = choices([("", _("Any age")),
                                     *[(k, str(AGE_BAND_LABELS[k])) for k in AGE_BANDS]])
    form.hukou_type.choices = choices([("", _("Any")), *[
        (k, codes.label(codes.HUKOU_TYPES, k, lang())) for k in codes.HUKOU_TYPES]])
    form.status.choices = choices([*[(k, codes.label(codes.STATUSES, k, lang()))
                                     for k in codes.STATUSES], ("any", _("Any status"))])
    return form


def _page_number(source: Any) -> int:
    try:
        return max(1, min(int(source.get("page", 1)), 100000))
    except (TypeError, ValueError):
        return 1


@bp.route("/persons", methods=["GET", "POST"])
@require(READ)
def search():
    """Find persons: one box for name, pinyin, initials, phone, ID number (or its last
    four digits with the name) and address; filters; masked results, one page at a time."""
    session = current_session()
    posted = request.method == "POST"
    source = request.form if posted else request.args
    form = _search_form(session, source)
    if not form.status.data:
        form.status.data = "active"
    searched = posted or any(source.get(k) for k in ("q", *FILTERS))
    errors: list[tuple[str, str]] = []
    result = None
    status = 200
    valid = form.validate() if searched else True
    query = (form.q.data or "").strip()
    sensitive = valid and shared.sensitive_query(query)
    if searched and valid and not posted and sensitive:
        form.q.errors = [_("ID numbers, phone numbers and addresses never go in a web address: "
                           "type them in the search box instead.")]
        form.q.data = ""
        valid = False
    if posted and valid and not sensitive and request.form.get("page") is None:
        args = {k: v for k, v in (("q", query), *((f, getattr(form, f).data) for f in FILTERS))
                if v and not (k == "status" and v == "active")}
        return redirect(url_for("registry.search", **args), 303)
    if searched and valid:
        filters = {f: getattr(form, f).data or None for f in FILTERS}
        st = filters.pop("status") or "active"
        try:
            result = registry.search_persons(
                session, actor=current_user, query=query, status=None if st == "any" else st,
                page=_page_number(source), per_page=PER_PAGE, lang=lang(), **filters)
        except RegistryError as exc:
            put_errors(form, exc, {"id_last4": "q", "name": "q", "age_band": "age_band"}, "q")
        else:
            session.commit()  # the access-log entries of the persons on the page
    if (searched and not valid) or form.errors:
        status = 400
        result = None
    errors = field_errors(form)
    pager = None
    if result is not None and result.total is not None:
        args = {k: v for k, v in (("q", query), *((f, getattr(form, f).data) for f in FILTERS))
                if v}
        pager = Pager(result.page, result.pages or 1, result.total, args)
    return render_template(
        "registry/search.html", form=form, errors=errors, result=result, pager=pager,
        sensitive=sensitive, posted=posted, query=query, match_labels=MATCH_LABELS,
        can_export=has_permission(current_user, EXPORT),
    ), status


# ------------------------------------------------------------------------------ a person


class RevealForm(FlaskForm):
    fields = CheckboxesField(
        _l("What to show in full"),
        validators=[DataRequired(message=_l("Choose what to show in full"))],
    )
    purpose = TextAreaField(
        _l("Why do you need to see it?"),
        validators=[DataRequired(message=_l("Say why you need to see it")),
                    Length(min=4, max=500, message=_l("Say why in 4 to 500 characters")),
                    printable],
        description=_l("The resident can read this: it is written to their access log with "
                       "your name."),
    )


def _reveal_form(*, blank: bool = False) -> RevealForm:
    form = RevealForm(formdata=None) if blank else RevealForm()
    form.fields.choices = choices([(f, field_label(f)) for f in REVEALABLE])
    return form


def resident_ref(view: dict[str, Any]) -> SimpleNamespace:
    """What the ``resident_profile_panels`` hook receives as ``resident``: the person's
    basic facts (id, name, status, community, grid, age band), never the sensitive values;
    a plugin reads more through its ``RegistryReader`` within its declared scopes."""
    keys = ("id", "name", "sex", "age_band", "status", "hukou_type", "community", "grid",
            "household_id", "dwelling_id")
    return SimpleNamespace(**{k: view.get(k) for k in keys})


def _history(session: Session, entity: str, entity_id: int) -> tuple[list[Change], bool]:
    rows = list(session.scalars(
        select(Change).where(Change.entity == entity, Change.entity_id == entity_id)
        .order_by(Change.id.desc()).limit(HISTORY_LIMIT + 1)))
    return rows[:HISTORY_LIMIT], len(rows) > HISTORY_LIMIT


def history_value(field: str, value: str | None, revealed: set[str]) -> str:
    """A history value as the page may show it: ID numbers and phones are stored masked;
    birth dates and hukou places are masked here unless revealed."""
    if value is None or value == "":
        return "—"
    if field == "birth_date" and "birth_date" not in revealed:
        return f"{value[:4]}-**-**"
    if field == "hukou_place" and "address" not in revealed:
        return "****"
    if field == "sex":
        return codes.label(codes.SEXES, value, lang()) or value
    if field == "status":
        return codes.label(codes.STATUSES, value, lang()) or value
    if field == "hukou_type":
        return codes.label(codes.HUKOU_TYPES, value, lang()) or value
    if field == "relation":
        return codes.label(codes.RELATIONS, value, lang()) or value
    if field == "id_type":
        return codes.label(codes.ID_TYPES, value, lang()) or value
    if field == "*" and value == "created":
        return _("created")
    return value


def _residences(session: Session, person_id: int, revealed: set[str]) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Residence, Dwelling.address, Building.id, Building.address, Building.estate,
               Building.name)
        .join(Dwelling, Dwelling.id == Residence.dwelling_id)
        .join(Unit, Unit.id == Dwelling.unit_id)
        .join(Building, Building.id == Unit.building_id)
        .where(Residence.person_id == person_id)
        .order_by(Residence.started_on.desc(), Residence.id.desc()))
    out = []
    for res, full, bid, road, estate, bname in rows:
        out.append({
            "started_on": res.started_on, "ended_on": res.ended_on,
            "role": codes.label(codes.RESIDENCE_ROLES, res.role, lang()),
            "address": full if "address" in revealed else mask_address(road, estate, bname),
            "building_id": bid, "current": res.ended_on is None,
        })
    return out


def _person_page(session: Session, person: Person, view: dict[str, Any], *,
                 reveal_form: RevealForm | None = None, revealed: bool = False,
                 status: int = 200) -> Any:
    shown = set(view.get("revealed") or [])
    rd = shared.reader(session)
    household = rd.household(person.id) if person.household_id else None
    building_id = session.scalar(
        select(Unit.building_id).join(Dwelling, Dwelling.unit_id == Unit.id)
        .where(Dwelling.id == person.dwelling_id)) if person.dwelling_id else None
    history, more = _history(session, "person", person.id)
    orgs = list(session.scalars(select(Organisation).where(Organisation.legal_rep_id ==
                                                           person.id).order_by(Organisation.name)))
    pending = [c for c in corrections_of(session, person.id) if c.status == "pending"]
    kernel = current_kernel()
    panels = sorted(kernel.plugins.call_slot("resident_profile_panels",
                                             resident=resident_ref(view), viewer=current_user),
                    key=lambda p: getattr(p, "order", 100))
    can_reveal = has_permission(current_user, REVEAL)
    form = reveal_form or (_reveal_form(blank=True) if can_reveal else None)
    session.commit()  # the person's and the household members' access-log entries
    return render_template(
        "registry/person.html", person=person, view=view, household=household,
        building_id=building_id, residences=_residences(session, person.id, shown),
        history=history, more_history=more, orgs=orgs, pending=pending, panels=panels,
        form=form, errors=field_errors(form) if form is not None and reveal_form else [],
        revealed=revealed, field_label=field_label,
        revealed_labels=[field_label(f) for f in view.get("revealed") or []],
        id_type_label=codes.label(codes.ID_TYPES, view.get("id_type"), lang()),
        history_value=lambda f, v: history_value(f, v, shown),
        can_review=has_permission(current_user, REVIEW),
    ), status


@bp.route("/persons/<int:person_id>")
@require(READ)
def person(person_id: int):
    """A person, masked, with the reveal form, household, residences, history and the
    plugins' panels."""
    session = current_session()
    found, view = shared.visible_person(session, person_id)
    return _person_page(session, found, view)


@bp.route("/persons/<int:person_id>/reveal", methods=["POST"])
@require(REVEAL)
def person_reveal(person_id: int):
    """Show chosen fields in full, once, for a stated purpose; one access-log entry."""
    session = current_session()
    found, view = shared.visible_person(session, person_id, log=False)
    form = _reveal_form()
    if not form.validate_on_submit():
        rd = shared.reader(session)
        log_displays(session, [rd._entry(found, [])])  # shown masked again
        return _person_page(session, found, view, reveal_form=form, status=400)
    try:
        view = shared.reader(session, form.purpose.data.strip()).person(
            found.id, reveal=form.fields.data)
    except (RegistryError, ScopeError):  # pragma: no cover - the form checked both
        session.rollback()
        abort(400)
    session.commit()
    return _person_page(session, found, view, reveal_form=_reveal_form(blank=True),
                        revealed=True)


# ------------------------------------------------------------------------------ places


@bp.route("/households/<int:household_id>")
@require(READ)
def household(household_id: int):
    session = current_session()
    found, member = shared.visible_household(session, household_id)
    view = shared.reader(session).household(member.id)
    address = None
    building_id = None
    if found.dwelling_id:
        row = session.execute(
            select(Building.id, Building.address, Building.estate, Building.name)
            .join(Unit, Unit.building_id == Building.id)
            .join(Dwelling, Dwelling.unit_id == Unit.id)
            .where(Dwelling.id == found.dwelling_id)).first()
        if row is not None:
            building_id, address = row[0], mask_address(row[1], row[2], row[3])
    session.commit()  # the members' access-log entries
    return render_template(
        "registry/household.html", household=found, view=view, address=address,
        building_id=building_id,
        kind_label=codes.label(codes.HOUSEHOLD_KINDS, found.kind, lang()))


@bp.route("/buildings/<int:building_id>")
@require(READ)
def building(building_id: int):
    """Who lives where: units, dwellings (use, rental flag) and their residents."""
    session = current_session()
    found = shared.visible_building(session, building_id)
    view = shared.building_view(session, found)
    rooms = sum(len(u["dwellings"]) for u in view["units"])
    people = sum(len(d["residents"]) for u in view["units"] for d in u["dwellings"])
    rentals = sum(1 for u in view["units"] for d in u["dwellings"] if d["is_rental"])
    session.commit()  # the residents' access-log entries
    return render_template("registry/building.html", b=view, rooms=rooms, people=people,
                           rentals=rentals)


# ------------------------------------------------------------------------------ organisations


class OrgSearch(Form):
    q = StringField(_l("Name"), validators=[Optional(), Length(max=100), printable])


@bp.route("/organisations")
@require(ORG_READ)
def organisations():
    session = current_session()
    form = OrgSearch(request.args)
    valid = form.validate()
    query = shared.organisation_query(form.q.data if valid else None, None, None)
    from sqlalchemy import func

    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) \
        or 0
    page = _page_number(request.args)
    rows = list(session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)))
    pager = Pager(page, max(1, math.ceil(total / PER_PAGE)), total,
                  {"q": form.q.data} if form.q.data else {})
    items = shared.org_views(session, rows)
    session.commit()  # the representatives' access-log entries
    return render_template("registry/organisations.html", form=form,
                           errors=field_errors(form), items=items,
                           pager=pager), 200 if valid else 400


@bp.route("/organisations/<int:org_id>")
@require(ORG_READ)
def organisation(org_id: int):
    session = current_session()
    org = session.get(Organisation, org_id) if 0 < org_id <= shared.MAX_ID else None
    if org is None:
        abort(404)
    view = shared.org_views(session, [org])[0]
    community = session.get(Community, org.community_id) if org.community_id else None
    grid = session.get(Grid, org.grid_id) if org.grid_id else None
    history, _more = _history(session, "organisation", org.id)
    session.commit()  # the representative's access-log entry
    return render_template("registry/organisation.html", org=view, community=community,
                           grid=grid, history=history, field_label=field_label,
                           can_read_persons=has_permission(current_user, READ))


# ------------------------------------------------------------------------------ import


def _imports_dir() -> Path:
    path = Path(current_app.instance_path) / "registry-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _clean_old_imports(folder: Path) -> None:
    cutoff = time.time() - IMPORT_TTL
    for item in folder.iterdir():
        try:
            if item.stat().st_mtime < cutoff:
                item.unlink()
        except OSError:
            pass


def _load_import(token: str) -> tuple[dict[str, Any], Path]:
    """An upload of the signed-in user (404 for anyone else's or an expired one)."""
    if not TOKEN_RE.match(token):
        abort(404)
    folder = _imports_dir()
    meta_path = folder / f"{token}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        abort(404)
    if meta.get("user_id") != current_user.id or time.time() - meta.get("at", 0) > IMPORT_TTL:
        abort(404)
    return meta, folder / f"{token}.data"


def _save_import(token: str, meta: dict[str, Any]) -> None:
    (_imports_dir() / f"{token}.json").write_text(json.dumps(meta, ensure_ascii=False),
                                                  encoding="utf-8")


def _report_view(report: dict[str, Any]) -> dict[str, Any]:
    rows: dict[int, dict[str, Any]] = {}
    for e in report["rejected"]:
        row = rows.setdefault(e["row"], {"row": e["row"], "name": e["name"], "problems": []})
        row["name"] = row["name"] or e["name"]
        row["problems"].append({"field": field_label(e["field"]),
                                "message": message(e["message"]), "value": e["value"]})
    return {**report, "rows": [rows[k] for k in sorted(rows)]}


@bp.route("/import", methods=["GET", "POST"])
@require(IMPORT)
def import_start():
    """Upload a CSV or XLSX file; the next page says what it would do (a dry run).
    ``community``: the community of every row, for a roster without that column (only
    the user's communities are offered, and the importer checks the scope again);
    ``blank_clears``: a blank cell clears the field of a registered person."""
    errors: list[tuple[str, str]] = []
    session = current_session()
    communities = scope_communities(session)
    community = (request.form.get("community") or "").strip()
    blank_clears = request.form.get("blank_clears") == "yes"
    if request.method == "POST":
        upload = request.files.get("file")
        filename = (upload.filename or "").strip() if upload else ""
        data = upload.read() if upload else b""
        if not filename or not data:
            errors.append(("file", _("Choose the file to import")))
        elif not filename.lower().endswith((".csv", ".xlsx")):
            errors.append(("file", _("The file must be a CSV or an XLSX file")))
        if community and community not in {c for c, _n in communities}:
            errors.append(("community", _("This community is outside the places you are "
                                          "assigned.")))
        if not errors:
            safe_name = re.sub(r"[^\w.\-]+", "_", Path(filename).name)[-100:] or "import.csv"
            try:
                report = shared.run_import(session, data, safe_name, dry_run=True,
                                           community=community or None,
                                           blank_clears=blank_clears)
            except RegistryError as exc:
                session.rollback()
                errors.append(("file", refusal(exc)))
            else:
                session.rollback()
                folder = _imports_dir()
                _clean_old_imports(folder)
                token = secrets.token_urlsafe(24)
                (folder / f"{token}.data").write_bytes(data)
                _save_import(token, {"user_id": current_user.id, "at": time.time(),
                                     "filename": safe_name, "community": community,
                                     "blank_clears": blank_clears,
                                     "report": shared.report_dict(report)})
                return redirect(url_for("registry.import_check", token=token), 303)
    return render_template("registry/import.html", errors=errors,
                           columns=_template_columns(), communities=communities,
                           community=community, blank_clears=blank_clears
                           ), 400 if errors else 200


def _template_columns() -> list[dict[str, Any]]:
    from core.registry.importer import COLUMNS

    return [{"zh": c.zh, "en": c.en, "required": c.required} for c in COLUMNS]


@bp.route("/import/template.csv")
@require(IMPORT)
def import_template():
    from core.registry.importer import write_template

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "template.csv"
        write_template(target, lang="zh" if lang() == "zh" else "en")
        body = target.read_bytes()
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=registry-template.csv"})


@bp.route("/import/<token>")
@require(IMPORT)
def import_check(token: str):
    """Check before importing: what would be created, updated and left as it is, and each
    rejected row with its reasons."""
    meta, _data = _load_import(token)
    return render_template("registry/import_check.html", token=token, meta=meta,
                           report=_report_view(meta["report"]))


@bp.route("/import/<token>", methods=["POST"])
@require(IMPORT)
def import_confirm(token: str):
    meta, data_path = _load_import(token)
    if meta.get("done"):
        return redirect(url_for("registry.import_check", token=token), 303)
    try:
        data = data_path.read_bytes()
    except OSError:
        abort(404)
    session = current_session()
    try:
        report = shared.run_import(session, data, meta["filename"], dry_run=False,
                                   community=meta.get("community") or None,
                                   blank_clears=bool(meta.get("blank_clears")))
    except RegistryError as exc:
        session.rollback()
        flash(refusal(exc), "error")
        return redirect(url_for("registry.import_start"), 303)
    if report.committed:
        session.commit()
        data_path.unlink(missing_ok=True)
        meta["done"] = True
    else:
        session.rollback()
    meta["report"] = shared.report_dict(report)
    _save_import(token, meta)
    return redirect(url_for("registry.import_check", token=token), 303)


@bp.route("/import/<token>/rejected.csv")
@require(IMPORT)
def import_rejected(token: str):
    """The rejected rows as CSV (values masked, as on the page)."""
    meta, _data = _load_import(token)
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow([_("Row"), _("Full name"), _("Column"), _("Problem"), _("Value")])
    for e in sorted(meta["report"]["rejected"], key=lambda e: (e["row"], e["field"])):
        writer.writerow([e["row"], _csv_safe(e["name"]), field_label(e["field"]),
                         message(e["message"]), _csv_safe(e["value"])])
    body = "\ufeff" + out.getvalue()
    return Response(body.encode("utf-8"), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=rejected-rows.csv"})


def _csv_safe(value: str) -> str:
    """No formulas for spreadsheets (CSV injection): a leading = + - @ is quoted."""
    text = str(value or "")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ------------------------------------------------------------------------------ export


class ExportForm(FlaskForm):
    community = SelectField(_l("Community"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()], default="active")
    lang = RadioField(_l("Column headings"), default="zh",
                      choices=choices([("zh", "中文"), ("en", "English")]))
    reveal = CheckboxesField(_l("Full values"), validators=[Optional()])
    purpose = TextAreaField(
        _l("Why do you need the full values?"),
        validators=[Optional(), Length(max=500), printable],
        description=_l("Needed only for full values. Every person exported is written to "
                       "their access log with this purpose and your name."),
    )

    def validate_purpose(self, field: Any) -> None:
        if self.reveal.data and len((field.data or "").strip()) < 4:
            raise ValidationError(_l("Say why you need the full values"))


@bp.route("/export", methods=["GET", "POST"])
@require(EXPORT)
def export():
    """Download persons as CSV in the import template's columns, masked; full values only
    with registry.person.reveal and a purpose, each person logged."""
    session = current_session()
    form = ExportForm()
    form.community.choices = choices([("", _("All my communities")),
                                      *[(c, f"{n} ({c})") for c, n in
                                        scope_communities(session)]])
    form.status.choices = choices([*[(k, codes.label(codes.STATUSES, k, lang()))
                                     for k in codes.STATUSES], ("any", _("Any status"))])
    can_reveal = has_permission(current_user, REVEAL)
    form.reveal.choices = choices([("yes", _("Show ID numbers, phones, birth dates and "
                                             "addresses in full"))] if can_reveal else [])
    if form.validate_on_submit():
        reveal = bool(form.reveal.data) and can_reveal
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "persons.csv"
            try:
                count = export_persons(
                    session, target, actor=current_user, reveal=reveal,
                    purpose=(form.purpose.data or "").strip(),
                    community=form.community.data or None,
                    status=None if form.status.data == "any" else (form.status.data
                                                                   or "active"),
                    lang=form.lang.data or "zh", via="export", facts=request_facts())
            except (RegistryError, ScopeError) as exc:
                session.rollback()
                form.purpose.errors = [*form.purpose.errors, refusal(exc)
                                       if isinstance(exc, RegistryError) else _("Not allowed")]
            else:
                body = target.read_bytes()
                session.commit()
                name = f"persons-{date.today():%Y%m%d}{'-full' if reveal else ''}.csv"
                return Response(body, mimetype="text/csv", headers={
                    "Content-Disposition": f"attachment; filename={name}",
                    "X-Exported-Persons": str(count)})
    status = 400 if request.method == "POST" else 200
    return render_template("registry/export.html", form=form, errors=field_errors(form),
                           can_reveal=can_reveal), status


# ------------------------------------------------------------------------------ dashboard


class DashboardForm(Form):
    community = SelectField(_l("Community"), validators=[Optional()])


@bp.route("/dashboard")
@require(DASHBOARD)
def dashboard():
    """The population of the viewer's communities by community, age, sex and hukou
    type: charts drawn on the server (SVG) and the same numbers as tables."""
    session = current_session()
    form = DashboardForm(request.args)
    form.community.choices = choices([("", _("All my communities")),
                                      *[(c, f"{n} ({c})") for c, n in
                                        scope_communities(session)]])
    valid = form.validate()
    stats = population(session, current_user, community=form.community.data if valid else None,
                       lang=lang(), unknown_label=_("Unknown"))
    sections = []
    for key, title, rows in (
        ("community", _("By community"), stats.by_community),
        ("age", _("By age"), stats.by_band),
        ("sex", _("By sex"), stats.by_sex),
        ("hukou", _("By hukou type"), stats.by_hukou),
    ):
        if key == "community" and len(rows) < 2:
            continue
        sections.append({
            "key": key, "title": title, "rows": rows,
            "chart": bar_chart(rows, title=title, chart_id=f"chart-{key}", number=number),
        })
    return render_template("registry/dashboard.html", form=form, errors=field_errors(form),
                           stats=stats, sections=sections, number=number, percent=percent), \
        200 if valid else 400


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
                               per_page=PER_PAGE)
    shared.log_names(session, [SimpleNamespace(id=r.correction.person_id, name=r.person_name)
                               for r in rows], purpose=_CORRECTIONS_PURPOSE)
    session.commit()
    pager = Pager(page, max(1, math.ceil(total / PER_PAGE)), total, {"status": status})
    return render_template("registry/corrections.html", rows=rows, pager=pager,
                           status=status, field_label=field_label, total=total)


def _notice_for(user_id: int | None) -> Any:
    """The decision's notification text in the resident's own language."""
    locale = None
    if user_id is not None:
        user = current_session().get(User, user_id)
        locale = user.locale if user is not None else None
    locale = locale or current_kernel().config.app["default_locale"]

    def notice(c: Correction) -> tuple[str, str]:
        with force_locale(locale):
            what = field_label(c.field)
            if c.status == "approved":
                return (_("Your correction was approved"),
                        _("Your %(field)s in the community register has been corrected.",
                          field=what))
            return (_("Your correction was refused"),
                    _("Your request to correct your %(field)s was refused: %(reason)s",
                      field=what, reason=c.decision_reason))

    return notice


@bp.route("/corrections/<int:correction_id>", methods=["GET", "POST"])
@require(REVIEW)
def correction(correction_id: int):
    session = current_session()
    found = reviewable(session, current_user, correction_id) if 0 < correction_id <= \
        shared.MAX_ID else None
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
                    link=url_for("registry.my_record"),
                    notice=_notice_for(found.requested_by_id))
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
        description=_l("Write it as it is on your documents. Dates as 1950-03-21; sex as 男 "
                       "or 女."),
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
                "age_band": age_band(age_on(m.birth_date, date.today())),
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
    found = session.get(Correction, correction_id) if 0 < correction_id <= shared.MAX_ID \
        else None
    if found is None or found.person_id != current_user.person_id:
        abort(404)
    return render_template("registry/my_correction_sent.html", c=found, field_label=field_label,
                           requested_text=display_value(found.field, found.new_value, lang()))
