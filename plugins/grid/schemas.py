"""marshmallow schemas: the event payload, the API's input and output. OpenAPI component
names are global, so they are prefixed with the plugin."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import LINE, TEXT, Id, PageArgs, Pattern, Strict, Text, page_schema
from plugins.grid.services.records import CATEGORIES, KINDS

MET = ("person", "family", "neighbour", "nobody")
CODE = r"^[A-Za-z0-9_-]{1,60}$"


class FindingReferred(Schema):
    """Payload of ``grid.finding.referred`` (the contract: ids, codes, the worker's words)."""

    finding_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    community = fields.String(required=True, validate=Pattern(r"^\d{12}$"))
    grid = fields.String(required=True, allow_none=True)
    person_id = fields.Integer(required=True, allow_none=True)
    household_id = fields.Integer(required=True, allow_none=True)
    category = fields.String(required=True, validate=validate.Length(1, 40))
    summary = fields.String(required=True, validate=validate.Length(1, 500))
    service_code = fields.String(required=True, allow_none=True)
    referred_by = fields.Integer(required=True)


class GridReferIn(Strict):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    category = fields.String(required=True, validate=validate.OneOf(CATEGORIES))
    summary = Text(one_line=True, required=True,
                   validate=[validate.Length(1, 500), Pattern(LINE, error="Enter text.")])
    service_code = fields.String(load_default=None, allow_none=True,
                                 validate=Pattern(CODE))


class GridFindingIn(GridReferIn):
    visit_id = Id(load_default=None, allow_none=True)
    patrol_id = Id(load_default=None, allow_none=True)


class GridFindingOut(Schema):
    id = fields.Integer(required=True)
    visit_id = fields.Integer(allow_none=True)
    patrol_id = fields.Integer(allow_none=True)
    kind = fields.String(required=True)
    category = fields.String(required=True)
    summary = fields.String(required=True)
    service_code = fields.String(allow_none=True)
    person_id = fields.Integer(allow_none=True)
    community = fields.String(required=True)
    grid = fields.String(allow_none=True)
    referred_at = fields.DateTime(required=True)
    onward_state = fields.String(required=True)
    onward_reference = fields.String(required=True)


class GridTaskArgs(Schema):
    grid = fields.String(load_default=None, validate=[validate.Length(1, 15), Pattern(LINE)])


class GridTaskOut(Schema):
    person_id = fields.Integer(required=True)
    name = fields.String(required=True, metadata={"description": "masked"})
    address = fields.String(allow_none=True, metadata={"description": "masked"})
    community = fields.String(allow_none=True)
    grid = fields.String(allow_none=True)
    rules = fields.List(fields.String(), required=True)
    due_on = fields.Date(required=True)
    last_visit_on = fields.Date(allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(["overdue", "due"]))
    household_id = fields.Integer(allow_none=True, metadata={
        "description": "the registry household; a household visit covers its subjects"})


class GridTaskList(Schema):
    items = fields.List(fields.Nested(GridTaskOut), required=True)
    total = fields.Integer(required=True)


class GridHouseholdOut(Schema):
    household_id = fields.Integer(allow_none=True, metadata={
        "description": "null: a person without a household, a single entry"})
    anchor = fields.Integer(required=True, metadata={
        "description": "the person_id to record the household visit with"})
    status = fields.String(required=True, validate=validate.OneOf(["overdue", "due"]))
    due_on = fields.Date(required=True)
    address = fields.String(allow_none=True, metadata={"description": "masked"})
    subjects = fields.List(fields.Nested(GridTaskOut), required=True,
                           metadata={"description": "the household's members due a visit, "
                                     "each with the rules (why) and due date"})


class GridHouseholdList(Schema):
    items = fields.List(fields.Nested(GridHouseholdOut), required=True)
    total = fields.Integer(required=True)


class GridVisitIn(Strict):
    person_id = Id(required=True)
    visited_on = fields.Date(load_default=None, allow_none=True)
    met = fields.String(required=True, validate=validate.OneOf(MET))
    findings = Text(load_default="", validate=validate.Length(max=2000))
    needs = Text(load_default="", validate=validate.Length(max=2000))
    follow_up = Text(load_default="", validate=validate.Length(max=2000))
    follow_up_on = fields.Date(load_default=None, allow_none=True)
    cover_household = fields.Boolean(load_default=False, metadata={
        "description": "the visit covers the person's registry household: every member a "
                       "rule selects counts as visited"})
    met_person_ids = fields.List(Id(), load_default=list, validate=validate.Length(max=50),
                                 metadata={"description": "household members met (with "
                                           "cover_household)"})
    refer_kind = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(KINDS),
                               metadata={"description": "refer the finding onward in the "
                                         "same step: matter, incident or offer"})
    refer_category = fields.String(load_default=None, allow_none=True,
                                   validate=validate.OneOf(CATEGORIES))
    refer_summary = Text(one_line=True, load_default=None, allow_none=True,
                         validate=[validate.Length(1, 500), Pattern(LINE, error="Enter text.")],
                         metadata={"description": "default: the findings, cut at 500"})
    refer_service_code = fields.String(load_default=None, allow_none=True,
                                       validate=Pattern(CODE))


class GridCorrectionOut(Schema):
    id = fields.Integer(required=True)
    corrected_at = fields.DateTime(required=True)
    corrected_by_id = fields.Integer(allow_none=True, metadata={"description": "account id"})
    reason = fields.String(required=True)
    before = fields.Dict(required=True, metadata={
        "description": "the changed fields' earlier values (dates and times ISO 8601)"})
    after = fields.Dict(required=True, metadata={"description": "their new values"})


class GridCorrectIn(Strict):
    reason = Text(required=True, validate=[validate.Length(1, 500),
                                           Pattern(TEXT, error="Enter text.")],
                  metadata={"description": "why the record is corrected (kept with it)"})


class GridVisitCorrectIn(GridCorrectIn):
    """Only the fields given change; who was met and whom the visit covers stay."""

    visited_on = fields.Date()
    findings = Text(validate=validate.Length(max=2000))
    needs = Text(validate=validate.Length(max=2000))
    follow_up = Text(validate=validate.Length(max=2000))
    follow_up_on = fields.Date(allow_none=True)


class GridPatrolCorrectIn(GridCorrectIn):
    """Only the fields given change; the grid stays."""

    area = Text(one_line=True, validate=[validate.Length(1, 200),
                                         Pattern(LINE, error="Enter text.")])
    started_at = fields.AwareDateTime(default_timezone=None)
    ended_at = fields.AwareDateTime(allow_none=True)
    found = Text(validate=validate.Length(max=2000))


class GridVisitOut(Schema):
    id = fields.Integer(required=True)
    person_id = fields.Integer(required=True)
    household_id = fields.Integer(allow_none=True)
    community = fields.String(allow_none=True)
    grid = fields.String(allow_none=True)
    visited_on = fields.Date(required=True)
    met = fields.String(required=True)
    findings = fields.String(required=True)
    needs = fields.String(required=True)
    follow_up = fields.String(required=True)
    follow_up_on = fields.Date(allow_none=True)
    created_at = fields.DateTime(required=True)
    covered_person_ids = fields.List(fields.Integer(), dump_default=list)
    met_person_ids = fields.List(fields.Integer(), dump_default=list)
    referred = fields.List(fields.Nested(GridFindingOut), dump_default=list)
    corrections = fields.List(fields.Nested(GridCorrectionOut), dump_default=list)


class GridVisitArgs(PageArgs):
    person_id = Id(load_default=None, strict=False)


class GridPatrolIn(Strict):
    grid = fields.String(required=True, validate=[validate.Length(1, 15), Pattern(LINE)])
    area = Text(one_line=True, required=True,
                validate=[validate.Length(1, 200), Pattern(LINE, error="Enter text.")])
    started_at = fields.AwareDateTime(required=True, default_timezone=None)
    ended_at = fields.AwareDateTime(load_default=None, allow_none=True)
    found = Text(load_default="", validate=validate.Length(max=2000))
    refer_kind = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(KINDS))
    refer_category = fields.String(load_default=None, allow_none=True,
                                   validate=validate.OneOf(CATEGORIES))
    refer_summary = Text(one_line=True, load_default=None, allow_none=True,
                         validate=[validate.Length(1, 500), Pattern(LINE, error="Enter text.")])
    refer_service_code = fields.String(load_default=None, allow_none=True,
                                       validate=Pattern(CODE))


class GridPatrolOut(Schema):
    id = fields.Integer(required=True)
    community = fields.String(allow_none=True)
    grid = fields.String(allow_none=True)
    area = fields.String(required=True)
    started_at = fields.DateTime(required=True)
    ended_at = fields.DateTime(allow_none=True)
    found = fields.String(required=True)
    referred = fields.List(fields.Nested(GridFindingOut), dump_default=list)
    corrections = fields.List(fields.Nested(GridCorrectionOut), dump_default=list)


class GridCoverageOut(Schema):
    grid = fields.String(required=True)
    name = fields.String(required=True)
    community = fields.String(required=True)
    total = fields.Integer(required=True)
    on_time = fields.Integer(required=True)
    overdue = fields.Integer(required=True)
    never = fields.Integer(required=True)
    on_time_percent = fields.Integer(required=True)


class GridCoverageList(Schema):
    on = fields.Date(required=True, metadata={"description": "today in app.timezone"})
    items = fields.List(fields.Nested(GridCoverageOut), required=True)


GridVisitPage = page_schema(GridVisitOut, "GridVisitPage")
GridPatrolPage = page_schema(GridPatrolOut, "GridPatrolPage")
