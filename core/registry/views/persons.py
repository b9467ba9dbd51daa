"""The staff search and a person's page (masked, reveal, history, residences)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from flask import (
    abort,
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
from wtforms import Form, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Optional

from core.current import current_kernel
from core.db import current_session
from core.identity import has_permission, require
from core.registry import api as shared
from core.registry import codes
from core.registry import services as registry
from core.registry.corrections import (
    corrections_of,
)
from core.registry.errors import RegistryError, ScopeError
from core.registry.models import (
    Building,
    Change,
    Dwelling,
    Organisation,
    Person,
    Residence,
    Unit,
)
from core.registry.present import REVEALABLE, log_displays, mask_address
from core.registry.search import AGE_BANDS
from core.registry.views.common import (
    AGE_BAND_LABELS,
    EXPORT,
    HISTORY_LIMIT,
    MATCH_LABELS,
    READ,
    REVEAL,
    REVIEW,
    Pager,
    bp,
    field_errors,
    field_label,
    lang,
    page_size,
    put_errors,
    scope_communities,
)
from core.web.forms import CheckboxesField, Length, choices, printable

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
    sex = SelectField(_l("Sex"), validators=[Optional()])
    hukou_type = SelectField(_l("Hukou type"), validators=[Optional()])
    status = SelectField(_l("Status"), validators=[Optional()], default="active")


FILTERS = ("community", "grid", "age_band", "sex", "hukou_type", "status")


def _search_form(session: Session, source: Any) -> SearchForm:
    form = SearchForm(source)
    form.community.choices = choices([("", _("All my communities")),
                                      *[(c, f"{n} ({c})") for c, n in
                                        scope_communities(session)]])
    form.age_band.choices = choices([("", _("Any age")),
                                     *[(k, str(AGE_BAND_LABELS[k])) for k in AGE_BANDS]])
    form.sex.choices = choices([("", _("Any")), *[
        (k, codes.label(codes.SEXES, k, lang())) for k in codes.SEXES]])
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
                page=_page_number(source), per_page=page_size(), lang=lang(), **filters)
        except RegistryError as exc:
            put_errors(form, exc, {"id_last4": "q", "name": "q", "age_band": "age_band",
                                    "sex": "sex"}, "q")
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
                    Length(min=4, max=500),
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
