"""The registry pages' blueprint, labels and shared helpers."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    request,
    url_for,
)
from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from core.hookspecs import NavItem
from core.identity import has_permission
from core.registry import api as shared
from core.registry import codes
from core.registry.errors import RegistryError
from core.rules import N_

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
    "dwelling": _l("Dwelling"),
    "household": _l("Household"),
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
    """(code, name) of the communities the signed-in staff member works in (shared with
    the API: :func:`core.registry.api.common.scope_communities`)."""
    return shared.scope_communities(session)


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
    if table == "ethnicity":
        return codes.ethnicity_label(code, lang())
    return codes.label(CODE_TABLES[table], code, lang()) or (code or "")


@bp.app_template_global()
def registry_status_tag(status: str, label: str = "") -> Any:
    from markupsafe import Markup, escape

    text = label or str(CORRECTION_STATUS.get(status, status))
    cls = STATUS_TAGS.get(status, "")
    return Markup(f'<span class="tag {cls}">{escape(text)}</span>')  # noqa: S704


def page_size() -> int:
    """Rows per page: ``PER_PAGE`` read from the package at call time, so that setting
    ``core.registry.views.PER_PAGE`` (a test, a deployment hook) reaches every page."""
    return int(sys.modules[__package__].PER_PAGE)


@dataclass
class Pager:
    page: int
    pages: int
    total: int
    args: dict[str, Any]

    def url(self, page: int) -> str:
        return url_for(request.endpoint, **(request.view_args or {}), **self.args, page=page)
