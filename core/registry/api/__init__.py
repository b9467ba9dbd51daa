"""The ``registry`` API area (``/api/v1/registry``): persons (search, register, read,
change, reveal, move, death), households, buildings (who lives where), organisations and
imports.

Thin, like the pages (``core.registry.views``): every rule is in ``core.registry``'s data
layer — validation and history in ``services``, masking, reveal and the access log in
``present`` / ``reader``, staff place scope in ``search.place_filter``. Each operation
names its permission with :func:`core.identity.require`, outermost, so 401/403 come before
the body is read; then objects outside the caller's communities and grids answer 404, the
same as objects that do not exist (existence must not leak); then 422 for broken rules,
with the field named.

**Personal data never in a URL** (docs/requirements.md R26): ``GET /persons`` searches names and
pinyin only; a query that is an ID number, a phone number, the last four digits of an ID
number or an address is refused there and belongs in the JSON body of
``POST /persons/search``. Results are masked; ``POST /persons/{id}/reveal`` shows named
fields in full for a stated purpose and writes one access-log entry, which the resident
reads at ``/account/access-log``.


Also correction requests (a resident's, and their review: ``routes_corrections``), the
dashboard's figures and the persons export (``routes_reports``).

A package along the area's seams (issue 21): ``schemas``, the shared ``common`` helpers and
``importing``, and one module per blueprint (``routes_*``). Every name callers used from
the former ``api`` module is re-exported here.
"""

from __future__ import annotations

from flask_smorest import Blueprint

from core.registry.api.common import (
    building_view,
    conflict,
    in_place,
    invalid,
    lang,
    log_names,
    not_found,
    org_views,
    organisation_query,
    place_codes,
    reader,
    refuse,
    scope_communities,
    sensitive_query,
    set_page_header,
    visible_building,
    visible_household,
    visible_person,
)
from core.registry.api.importing import (
    OUTSIDE_COMMUNITY,
    OUTSIDE_PERSON,
    UNREADABLE,
    NamedBytes,
    diff_dict,
    import_record,
    report_dict,
    revert_dict,
    rows_outside_scope,
    run_import,
)
from core.registry.api.routes_corrections import (
    CorrectionDecision,
    CorrectionItem,
    Corrections,
    OwnCorrectionItem,
    OwnCorrections,
    corrections,
)
from core.registry.api.routes_imports import (
    ImportRevert,
    Imports,
    imports,
)
from core.registry.api.routes_organisations import (
    OrganisationItem,
    Organisations,
    organisations,
)
from core.registry.api.routes_persons import (
    MISSING,
    REFUSED,
    PersonDeath,
    PersonItem,
    PersonMove,
    PersonReveal,
    Persons,
    PersonsSearch,
    persons,
)
from core.registry.api.routes_places import (
    BuildingItem,
    HouseholdItem,
    places,
)
from core.registry.api.routes_reports import (
    Dashboard,
    Export,
    reports,
)
from core.registry.api.schemas import (
    BASE64,
    COMMUNITY,
    GRID,
    IMPORT,
    NAME,
    NO_DIGITS,
    ORG_READ,
    ORG_WRITE,
    READ,
    REVEAL,
    SENSITIVE_KINDS,
    STATUS_FILTER,
    WRITE,
    BuildingSchema,
    DeathRequest,
    DwellingSchema,
    HouseholdSchema,
    ImportChangeSchema,
    ImportList,
    ImportListQuery,
    ImportRecordSchema,
    ImportReportSchema,
    ImportRequest,
    ImportRowDiffSchema,
    LegalRepSchema,
    MoveRequest,
    OrganisationCreate,
    OrganisationPage,
    OrganisationQuery,
    OrganisationSchema,
    PersonCreate,
    PersonFields,
    PersonHit,
    PersonPage,
    PersonPatch,
    PersonQuery,
    PersonSchema,
    PersonSearch,
    ResidentSchema,
    RevealRequest,
    RevertReportSchema,
    RowErrorSchema,
    UnitSchema,
)


def blueprints() -> list[Blueprint]:
    """The ``registry`` area's blueprints, for ``core.api.core_api``."""
    return [persons, places, organisations, imports, corrections, reports]


__all__ = [
    "BASE64",
    "COMMUNITY",
    "GRID",
    "IMPORT",
    "MISSING",
    "NAME",
    "NO_DIGITS",
    "ORG_READ",
    "ORG_WRITE",
    "OUTSIDE_COMMUNITY",
    "OUTSIDE_PERSON",
    "READ",
    "REFUSED",
    "REVEAL",
    "SENSITIVE_KINDS",
    "STATUS_FILTER",
    "UNREADABLE",
    "WRITE",
    "BuildingItem",
    "BuildingSchema",
    "CorrectionDecision",
    "CorrectionItem",
    "Corrections",
    "Dashboard",
    "DeathRequest",
    "DwellingSchema",
    "Export",
    "HouseholdItem",
    "HouseholdSchema",
    "ImportChangeSchema",
    "ImportList",
    "ImportListQuery",
    "ImportRecordSchema",
    "ImportReportSchema",
    "ImportRequest",
    "ImportRevert",
    "ImportRowDiffSchema",
    "Imports",
    "LegalRepSchema",
    "MoveRequest",
    "NamedBytes",
    "OrganisationCreate",
    "OrganisationItem",
    "OrganisationPage",
    "OrganisationQuery",
    "OrganisationSchema",
    "Organisations",
    "OwnCorrectionItem",
    "OwnCorrections",
    "PersonCreate",
    "PersonDeath",
    "PersonFields",
    "PersonHit",
    "PersonItem",
    "PersonMove",
    "PersonPage",
    "PersonPatch",
    "PersonQuery",
    "PersonReveal",
    "PersonSchema",
    "PersonSearch",
    "Persons",
    "PersonsSearch",
    "ResidentSchema",
    "RevealRequest",
    "RevertReportSchema",
    "RowErrorSchema",
    "UnitSchema",
    "blueprints",
    "building_view",
    "conflict",
    "corrections",
    "diff_dict",
    "import_record",
    "imports",
    "in_place",
    "invalid",
    "lang",
    "log_names",
    "not_found",
    "org_views",
    "organisation_query",
    "organisations",
    "persons",
    "place_codes",
    "places",
    "reader",
    "refuse",
    "report_dict",
    "reports",
    "revert_dict",
    "rows_outside_scope",
    "run_import",
    "scope_communities",
    "sensitive_query",
    "set_page_header",
    "visible_building",
    "visible_household",
    "visible_person",
]
