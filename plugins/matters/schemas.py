"""marshmallow schemas: the API's input and output and the events' payloads. OpenAPI
component names are global, so they start with ``Matters``."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import LINE, OPT_LINE, TEXT, Id, JsonBoolean, Pattern, Strict, page_schema
from plugins.matters.services import CATEGORIES, RATINGS, STATES

CATEGORY = validate.OneOf(sorted(CATEGORIES))
# Stated in the schema (the toolkit's patterns), so the OpenAPI document says what is
# accepted: some visible text; no control characters (line breaks allowed in TEXT).


def _text(n: int) -> fields.String:
    return fields.String(required=True, validate=[validate.Length(1, n), Pattern(TEXT)])


def _opt_line(n: int) -> fields.String:
    return fields.String(load_default="", validate=[validate.Length(0, n),
                                                    Pattern(OPT_LINE)])


def _department() -> fields.String:
    """A department named by its code: one line (no control character reaches a query)
    within the column's 40 characters; whether it exists is the service's to say."""
    return fields.String(required=True, validate=[validate.Length(1, 40),
                                                  Pattern(LINE)])


class MatterEvent(Schema):
    """``matters.matter.filed`` / ``answered`` / ``closed``: ids and codes only."""

    matter_id = fields.Integer(required=True)
    reference = fields.String(required=True)
    community = fields.String(allow_none=True, load_default=None)
    department = fields.String(required=True)
    category = fields.String(required=True)
    source = fields.String(required=True, validate=validate.OneOf(["hotline", "web", "grid"]))
    source_id = fields.Integer(allow_none=True, load_default=None)
    person_id = fields.Integer(allow_none=True, load_default=None)
    state = fields.String(required=True)


class MattersListArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100000))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    state = fields.String(validate=validate.OneOf(sorted(STATES)))
    overdue = fields.Boolean()


class MattersFileIn(Strict):
    """A resident files their own matter on the web."""

    category = fields.String(required=True, validate=CATEGORY)
    summary = _text(2000)
    location = _opt_line(200)
    community = fields.String(load_default=None, allow_none=True,
                              validate=Pattern(r"^\d{12}$"))
    caller_name = _opt_line(50)
    caller_phone = fields.String(load_default="", validate=[validate.Length(0, 30),
                                                       Pattern(r"^[0-9+\- ]*$")])


class MattersHotlineIn(MattersFileIn):
    """The operator files a caller's matter: a registry person, or the caller's own
    details when the registry does not hold them."""

    person_id = Id(load_default=None, allow_none=True)


class MattersTransferIn(Strict):
    department = _department()
    reason = _text(500)


class MattersAnswerIn(Strict):
    answer = _text(4000)


class MattersRateIn(Strict):
    rating = fields.String(required=True, validate=validate.OneOf(sorted(RATINGS)))


class MattersMemberIn(Strict):
    user_id = Id(required=True)


class MattersStep(Schema):
    kind = fields.String(required=True)
    at = fields.DateTime(required=True)
    department = fields.String(required=True)
    note = fields.String(required=True)


class MattersMatter(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    source = fields.String(required=True)
    source_id = fields.Integer(allow_none=True)
    category = fields.String(required=True)
    summary = fields.String(required=True)
    location = fields.String(required=True)
    community = fields.String(allow_none=True)
    department = fields.String(required=True)
    state = fields.String(required=True)
    filed_at = fields.DateTime(required=True)
    sign_due = fields.Date(required=True)
    answer_due = fields.Date(required=True)
    signed_at = fields.DateTime(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    answer = fields.String(required=True)
    replied_via = fields.String(required=True)
    rating = fields.String(allow_none=True)
    escalated = fields.Boolean(required=True)
    overdue = fields.Boolean(required=True)
    person_id = fields.Integer(allow_none=True)
    caller = fields.String(allow_none=True, metadata={"description": "masked"})


class MattersMatterDetail(MattersMatter):
    steps = fields.List(fields.Nested(MattersStep), required=True)


MattersMatterPage = page_schema(MattersMatter, "MattersMatterPage")


class MattersDepartment(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    name_en = fields.String(required=True)
    kind = fields.String(required=True)
    community = fields.String(allow_none=True)
    active = fields.Boolean(required=True)


class MattersDepartmentList(Schema):
    items = fields.List(fields.Nested(MattersDepartment), required=True)


class MattersMembers(Schema):
    department = fields.String(required=True)
    user_ids = fields.List(fields.Integer(), required=True)


class MattersStatsRow(Schema):
    department = fields.String(required=True)
    received = fields.Integer(required=True)
    signed_on_time = fields.Integer(required=True)
    answered_on_time = fields.Integer(required=True)
    overdue = fields.Integer(required=True)
    rated = fields.Integer(required=True)
    satisfaction = fields.Float(allow_none=True)


class MattersStats(Schema):
    items = fields.List(fields.Nested(MattersStatsRow), required=True)


# ----------------------------------------------------------------- configuration
# (departments and routing rules: ``matters.department.manage``)


class MattersDepartmentIn(Strict):
    """A new department, or a community office (``kind`` ``community`` with the
    12-digit ``community`` it serves)."""

    code = fields.String(required=True, validate=Pattern(
        r"^[a-z][a-z0-9_-]{0,39}$"), metadata={"description": "permanent; used in URLs"})
    name = fields.String(required=True, validate=[validate.Length(1, 100),
                                                  Pattern(LINE)])
    name_en = _opt_line(100)
    kind = fields.String(load_default="department",
                         validate=validate.OneOf(["department", "community"]))
    community = fields.String(load_default=None, allow_none=True,
                              validate=Pattern(r"^\d{12}$"))


class MattersDepartmentPatch(Strict):
    """Rename (``name``, ``name_en``), close (``active: false``; refused with 409 while it
    has open matters or routing rules) or reopen (``active: true``)."""

    name = fields.String(validate=[validate.Length(1, 100), Pattern(LINE)])
    name_en = fields.String(validate=[validate.Length(0, 100), Pattern(OPT_LINE)])
    active = JsonBoolean()


class MattersRouteIn(Strict):
    """Matters of ``category`` (``*``: any) in ``place`` (12-digit community, 9-digit
    street, ``""`` anywhere) go to ``department``; ``answer_days`` (working days) is the
    rule's own limit, ``null`` for the default. Replaces the rule for the same category
    and place. Applies to matters filed afterwards."""

    category = fields.String(required=True, validate=validate.OneOf([*sorted(CATEGORIES), "*"]))
    place = fields.String(load_default="", validate=Pattern(r"^(\d{9}|\d{12})?$"))
    department = _department()
    answer_days = fields.Integer(load_default=None, allow_none=True,
                                 validate=validate.Range(1, 60))


class MattersRoute(Schema):
    id = fields.Integer(required=True)
    category = fields.String(required=True)
    place = fields.String(required=True)
    department = fields.String(required=True)
    answer_days = fields.Integer(allow_none=True)


class MattersRouteList(Schema):
    items = fields.List(fields.Nested(MattersRoute), required=True)
