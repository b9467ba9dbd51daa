"""The registry API's request and response schemas (the data standard other
systems read: ``core.exchange.standard`` publishes them) and the shared field rules."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.api.fields import LINE_CONTROL_CHARS, JsonBoolean, Pattern, Strict, Text
from core.api.pagination import PageArgs, page_schema
from core.registry import codes
from core.registry.present import (
    REVEALABLE,
)
from core.registry.search import AGE_BANDS
from core.rules import MAX_ID

READ, WRITE, REVEAL = "registry.person.read", "registry.person.write", "registry.person.reveal"
ORG_READ, ORG_WRITE, IMPORT = "registry.org.read", "registry.org.write", "registry.import"
#: Query kinds that carry personal data and so never travel in a URL (R26).
SENSITIVE_KINDS = frozenset({"id_number", "phone", "id_last4", "address"})
COMMUNITY = Pattern(r"^[0-9]{12}$", error="A community code has 12 digits.")
GRID = Pattern(r"^[A-Za-z0-9_-]{1,32}$", error="Not a grid code.")
STATUS_FILTER = [*codes.STATUSES, "any"]
#: A name has a letter (Han characters count) and no surrounding spaces.
#: Control characters (C0 and C1) spelled out: ``\s`` matches U+0085 in Python but not in the
#: ECMAScript regex an OpenAPI client validates with, so the document must not rely on it.
#: A one-line value's control characters (core.api.fields) plus C1, which a name never holds.
_CONTROL = LINE_CONTROL_CHARS + r"\x80-\x9f"
NAME = Pattern(rf"^[^\s\d_{_CONTROL}]([^{_CONTROL}]*[^\s{_CONTROL}])?$",
                       error="Enter the name.")
#: No digits at all: a name or pinyin, never an ID number, phone or address (R26).
NO_DIGITS = Pattern(r"^[^0-9０-９]*$", error="Names and pinyin have no digits; "
                            "search by ID number, phone or address with POST "
                            "/persons/search.")
BASE64 = Pattern(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
                         error="This is not base64.")


# ------------------------------------------------------------------------------ schemas


class PersonFields(Strict):
    """A person's recorded fields, checked by ``services.clean_person`` (the importer's
    rules): the schema says the shapes, the services the meaning (check digits, sex and
    birth date agreeing with the ID number …), answering 422 with the field named."""

    name = Text(one_line=True, validate=[validate.Length(min=1, max=50), NAME])
    id_type = fields.String(validate=validate.OneOf(list(codes.ID_TYPES)))
    id_number = fields.String(
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "18 characters for a resident ID (15-digit numbers are "
                                 "upgraded); other documents 5-20 letters and digits"},
    )
    sex = fields.String(allow_none=True, validate=validate.OneOf(list(codes.SEXES)))
    birth_date = fields.Date(allow_none=True)
    phone = fields.String(allow_none=True, validate=validate.Length(max=20))
    ethnicity = fields.String(
        allow_none=True, validate=validate.OneOf(list(codes.ETHNICITIES)),
        metadata={"description": "GB 3304 code (01 汉族)"},
    )
    nationality = fields.String(
        allow_none=True, validate=Pattern(r"^[A-Z]{3}$"),
        metadata={"description": "ISO 3166 alpha-3; null for Chinese"},
    )
    hukou_type = fields.String(validate=validate.OneOf(list(codes.HUKOU_TYPES)))
    hukou_place = Text(allow_none=True, one_line=True, validate=validate.Length(max=200))


class PersonCreate(PersonFields):
    name = Text(required=True, one_line=True, validate=[validate.Length(min=1, max=50), NAME])
    community = fields.String(
        required=True, validate=COMMUNITY,
        metadata={"description": "The community (the dwelling's, when one is given)"},
    )
    dwelling_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    role = fields.String(
        load_default="other", validate=validate.OneOf(list(codes.RESIDENCE_ROLES))
    )
    since = fields.Date(metadata={"description": "Moved in on (default: today)"})
    household_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    relation = fields.String(
        validate=validate.OneOf([c for c in codes.RELATIONS if c != codes.HEAD]),
        metadata={"description": "GB/T 4761 relation to the head (with household_id)"},
    )


class PersonPatch(PersonFields):
    version = fields.Integer(
        required=True, validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "The version you read; a stale one answers 409"},
    )


class PersonSchema(Schema):
    """A person as the register shows them: sensitive values masked unless ``revealed``."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    sex = fields.String(allow_none=True)
    age_band = fields.String(required=True, metadata={"description": "Ten-year band"})
    status = fields.String(required=True)
    status_label = fields.String(required=True)
    hukou_type = fields.String(required=True)
    hukou_label = fields.String(required=True)
    community = fields.String(allow_none=True)
    community_name = fields.String(allow_none=True)
    grid = fields.String(allow_none=True)
    grid_name = fields.String(allow_none=True)
    version = fields.Integer(required=True)
    revealed = fields.List(fields.String(), required=True,
                           metadata={"description": "Fields shown in full"})
    id_type = fields.String(allow_none=True)
    id_number = fields.String(allow_none=True, metadata={"description": "Masked unless "
                                                                        "revealed"})
    birth_date = fields.String(allow_none=True, metadata={"description": "1949-**-** unless "
                                                                         "revealed"})
    age = fields.Integer(allow_none=True)
    ethnicity = fields.String(allow_none=True)
    ethnicity_label = fields.String(allow_none=True)
    nationality = fields.String(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"description": "Masked unless revealed"})
    dwelling_id = fields.Integer(allow_none=True)
    address = fields.String(allow_none=True, metadata={"description": "Down to the building "
                                                                      "unless revealed"})
    hukou_place = fields.String(allow_none=True)
    household_id = fields.Integer(allow_none=True)
    relation = fields.String(allow_none=True)
    relation_label = fields.String(allow_none=True)


class PersonHit(PersonSchema):
    match = fields.String(
        required=True, metadata={"description": "Which rule matched (exact, name, pinyin, "
                                                "initials, reading, mixed, id_number …)"},
    )


class PersonQuery(PageArgs):
    q = Text(
        one_line=True, validate=[validate.Length(max=50), NO_DIGITS],
        metadata={"description": "A name, part of a name, full pinyin or initials (张三, "
                                 "张, zhangsan, zs, 张s). ID numbers, phones and addresses "
                                 "go in the body of POST /persons/search."},
    )
    community = fields.String(validate=COMMUNITY)
    grid = fields.String(validate=GRID)
    age_band = fields.String(validate=validate.OneOf(list(AGE_BANDS)))
    sex = fields.String(validate=validate.OneOf(list(codes.SEXES)),
                        metadata={"description": "M or F; with age_band, e.g. women 15-49"})
    hukou_type = fields.String(validate=validate.OneOf(list(codes.HUKOU_TYPES)))
    status = fields.String(load_default="active", validate=validate.OneOf(STATUS_FILTER))


class PersonSearch(Strict):
    q = Text(one_line=True, validate=validate.Length(max=100),
             metadata={"description": "Free text: name, pinyin, ID number, phone, "
                                      "'name + last four digits', address"})
    name = Text(one_line=True, validate=validate.Length(max=50))
    id_number = fields.String(validate=validate.Length(max=32))
    phone = fields.String(validate=validate.Length(max=20))
    address = Text(one_line=True, validate=validate.Length(max=100))
    community = fields.String(validate=COMMUNITY)
    grid = fields.String(validate=GRID)
    age_band = fields.String(validate=validate.OneOf(list(AGE_BANDS)))
    sex = fields.String(validate=validate.OneOf(list(codes.SEXES)),
                        metadata={"description": "M or F; with age_band, e.g. women 15-49"})
    hukou_type = fields.String(validate=validate.OneOf(list(codes.HUKOU_TYPES)))
    status = fields.String(load_default="active", validate=validate.OneOf(STATUS_FILTER))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RevealRequest(Strict):
    fields_ = fields.List(
        fields.String(validate=validate.OneOf(list(REVEALABLE))),
        required=True, data_key="fields", validate=validate.Length(min=1, max=4),
        metadata={"description": "id_number, birth_date, phone, address"},
    )
    purpose = Text(
        required=True, one_line=True, validate=validate.Length(min=4, max=500),
        metadata={"description": "Why: written to the access log the resident reads"},
    )


class MoveRequest(Strict):
    version = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    to_dwelling_id = fields.Integer(
        required=True, allow_none=True, validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "null: the person left the area (moved out)"},
    )
    role = fields.String(load_default="other",
                         validate=validate.OneOf(list(codes.RESIDENCE_ROLES)))
    on = fields.Date(metadata={"description": "Default: today"})


class DeathRequest(Strict):
    version = fields.Integer(validate=validate.Range(min=1, max=MAX_ID))
    died_on = fields.Date(allow_none=True)


class HouseholdSchema(Schema):
    id = fields.Integer(required=True)
    number = fields.String(allow_none=True, metadata={"description": "户号"})
    kind = fields.String(required=True)
    head_id = fields.Integer(allow_none=True)
    dwelling_id = fields.Integer(allow_none=True)
    members = fields.List(fields.Nested(PersonSchema), required=True)


class ResidentSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    sex = fields.String(allow_none=True)
    age_band = fields.String(required=True)
    hukou_type = fields.String(required=True)
    role = fields.String(allow_none=True, metadata={"description": "owner, tenant, other"})


class DwellingSchema(Schema):
    id = fields.Integer(required=True)
    room = fields.String(required=True)
    floor = fields.Integer(allow_none=True)
    area_m2 = fields.Float(allow_none=True)
    use = fields.String(required=True)
    is_rental = fields.Boolean(required=True)
    address = fields.String(required=True)
    residents = fields.List(fields.Nested(ResidentSchema), required=True)


class UnitSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    dwellings = fields.List(fields.Nested(DwellingSchema), required=True)


class BuildingSchema(Schema):
    id = fields.Integer(required=True)
    community = fields.String(required=True)
    community_name = fields.String(required=True)
    grid = fields.String(allow_none=True)
    estate = fields.String(required=True)
    name = fields.String(required=True)
    address = fields.String(required=True)
    units = fields.List(fields.Nested(UnitSchema), required=True)


class LegalRepSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class OrganisationSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    credit_code = fields.String(required=True)
    type = fields.String(required=True)
    address = fields.String(required=True)
    status = fields.String(required=True)
    version = fields.Integer(required=True)
    community = fields.String(allow_none=True)
    legal_rep = fields.Nested(LegalRepSchema, allow_none=True)


class OrganisationQuery(PageArgs):
    q = Text(one_line=True, validate=validate.Length(max=100),
             metadata={"description": "Part of the name"})
    community = fields.String(validate=COMMUNITY)
    status = fields.String(validate=validate.OneOf(["active", "closed"]))


class OrganisationCreate(Strict):
    name = Text(required=True, one_line=True,
                validate=[validate.Length(min=1, max=200), Pattern(r"\S")])
    credit_code = fields.String(
        required=True, validate=Pattern(r"^[0-9A-Za-z]{18}$"),
        metadata={"description": "Unified social credit code (GB 32100), check character "
                                 "verified"},
    )
    type = fields.String(validate=validate.OneOf(list(codes.ORG_TYPES)))
    address = Text(one_line=True, validate=validate.Length(max=300))
    legal_rep_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=MAX_ID))
    community = fields.String(required=True, validate=COMMUNITY)
    grid = fields.String(validate=GRID)


class ImportRequest(Strict):
    filename = fields.String(
        required=True,
        validate=Pattern(r"^[^/\\\x00-\x1f]{1,200}\.(csv|xlsx|CSV|XLSX)$"),
        metadata={"description": "Ends in .csv or .xlsx (the format)"},
    )
    content_base64 = fields.String(
        required=True, validate=[validate.Length(min=4), BASE64],
        metadata={"description": "The file, base64-encoded (CSV in UTF-8 or GB18030)"},
    )
    dry_run = JsonBoolean(
        load_default=True,
        metadata={"description": "Validate and say what would change, writing nothing "
                                 "(the default)"},
    )
    community = fields.String(
        validate=COMMUNITY,
        metadata={"description": "The community of every row, for a file without the "
                                 "community column (one of the places you are assigned)"},
    )
    blank_clears = JsonBoolean(
        load_default=False,
        metadata={"description": "An empty cell clears the field of a registered person "
                                 "(default: it leaves the value as it is)"},
    )
    correction = JsonBoolean(
        load_default=False,
        metadata={"description": "A correction run: a row whose ID number is registered "
                                 "under another name changes the name; every change is "
                                 "recorded with ``reason``"},
    )
    reason = Text(
        validate=validate.Length(max=500),
        metadata={"description": "Why (required with correction: 409 without it): "
                                 "written to the history of every change"},
    )


class RowErrorSchema(Schema):
    row = fields.Integer(required=True, metadata={"description": "Spreadsheet row (header "
                                                                "= 1)"})
    field = fields.String(required=True)
    message = fields.String(required=True)
    name = fields.String(required=True)
    value = fields.String(required=True, metadata={"description": "Masked where sensitive"})


class ImportChangeSchema(Schema):
    field = fields.String(required=True)
    old = fields.String(allow_none=True, metadata={"description": "Masked where sensitive"})
    new = fields.String(allow_none=True, metadata={"description": "Masked where sensitive"})


class ImportRowDiffSchema(Schema):
    row = fields.Integer(required=True, metadata={"description": "Spreadsheet row"})
    person_id = fields.Integer(allow_none=True)
    action = fields.String(required=True, validate=validate.OneOf(
        ["create", "update", "unchanged", "conflict"]))
    changes = fields.List(fields.Nested(ImportChangeSchema), required=True)


class ImportReportSchema(Schema):
    dry_run = fields.Boolean(required=True)
    committed = fields.Boolean(
        required=True, metadata={"description": "Written (false: nothing was written)"}
    )
    total = fields.Integer(required=True)
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    new_dwellings = fields.Integer(required=True)
    new_households = fields.Integer(required=True)
    rejected_rows = fields.List(fields.Integer(), required=True)
    rejected = fields.List(fields.Nested(RowErrorSchema), required=True)
    warnings = fields.List(fields.String(), required=True)
    batch_id = fields.Integer(allow_none=True)
    import_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The import's id (written runs): GET /imports, POST "
                                 "/imports/{import_id}/revert"},
    )
    correction = fields.Boolean(required=True)
    diffs = fields.List(
        fields.Nested(ImportRowDiffSchema), required=True,
        metadata={"description": "Per row with changes, each field from what to what "
                                 "(dry runs; conflicts always)"},
    )
    diffs_capped = fields.Boolean(
        required=True, metadata={"description": "More rows change than ``diffs`` lists"},
    )


class ImportRecordSchema(Schema):
    id = fields.Integer(required=True)
    source = fields.String(required=True, metadata={"description": "The file name"})
    actor_name = fields.String(allow_none=True)
    at = fields.DateTime(required=True)
    correction = fields.Boolean(required=True)
    reason = fields.String(allow_none=True)
    community = fields.String(allow_none=True)
    blank_clears = fields.Boolean(required=True)
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    reverted_at = fields.DateTime(allow_none=True)
    reverted_by_name = fields.String(allow_none=True)


class ImportList(Schema):
    items = fields.List(fields.Nested(ImportRecordSchema), required=True)


class ImportListQuery(Strict):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class RevertReportSchema(Schema):
    import_id = fields.Integer(required=True)
    reverted = fields.Dict(
        keys=fields.String(), values=fields.Integer(), required=True,
        metadata={"description": "What the revert did, counted (restored, "
                                 "deleted_persons, deleted_households, deleted_dwellings)"},
    )
    changed_since = fields.List(fields.String(), required=True,
                                metadata={"description": "Persons changed since (masked)"})


#: A search page also says whether its total was capped (the component is named by the class).
PersonPage = type("RegistryPersonPage", (page_schema(PersonHit, "RegistryPersonPageBase"),), {
    "total_capped": fields.Boolean(
        required=True,
        metadata={"description": "More persons match than ``total`` "
                                 "(search totals are counted up to 1,000)"},
    ),
})
OrganisationPage = page_schema(OrganisationSchema, "RegistryOrganisationPage")
