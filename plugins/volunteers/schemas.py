"""marshmallow schemas: the API's input and output. OpenAPI component names are global,
so they are prefixed with the plugin. Times without an offset are wall-clock times in the
configured zone (``app.timezone``); answers are ISO 8601 in UTC."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import LINE, Id, JsonBoolean, PageArgs, Pattern, Strict, Text, page_schema

# Some visible text, no control characters: stated in the schema, so the OpenAPI document
# says what the service accepts and the fuzzer's valid requests are really valid.
SOME = r"\S"
COMMUNITY = r"^[0-9]{12}$"


def _line(n: int, **kw):
    return Text(one_line=True, validate=[validate.Length(1, n), Pattern(LINE)], **kw)


HOURS = validate.Range(0, 24)


class VolunteersActivityIn(Strict):
    community = fields.String(required=True, validate=Pattern(COMMUNITY),
                              metadata={"description": "12-digit community code"})
    title = _line(200, required=True)
    description = Text(load_default="", validate=validate.Length(0, 4000))
    place = _line(200, required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    signup_deadline = fields.DateTime(required=True)
    capacity = fields.Integer(required=True, strict=True, validate=validate.Range(1, 10000))
    hours = fields.Float(required=True, allow_nan=False, validate=HOURS,
                         metadata={"description": "Hours credited, in quarters (1.5)"})


class VolunteersActivityPatch(Strict):
    title = _line(200)
    description = Text(validate=validate.Length(0, 4000))
    place = _line(200)
    starts_at = fields.DateTime()
    ends_at = fields.DateTime()
    signup_deadline = fields.DateTime()
    capacity = fields.Integer(strict=True, validate=validate.Range(1, 10000))
    hours = fields.Float(allow_nan=False, validate=HOURS)


class VolunteersActivity(Schema):
    id = fields.Integer(required=True)
    community = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    place = fields.String(required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    signup_deadline = fields.DateTime(required=True)
    capacity = fields.Integer(required=True)
    taken = fields.Integer(required=True)
    places_left = fields.Integer(required=True)
    hours = fields.Float(required=True)
    state = fields.String(required=True, metadata={"description": "open | cancelled"})
    cancel_reason = fields.String(allow_none=True)
    my_signup = fields.String(allow_none=True,
                              metadata={"description": "the caller's sign-up state"})


VolunteersActivityPage = page_schema(VolunteersActivity, "VolunteersActivityPage")


class VolunteersActivityArgs(PageArgs):
    community = fields.String(validate=Pattern(COMMUNITY))
    when = fields.String(load_default="upcoming",
                         validate=validate.OneOf(["upcoming", "past", "all"]))


class VolunteersCancelIn(Strict):
    reason = Text(required=True, validate=[validate.Length(1, 500), Pattern(SOME)])


class VolunteersSignup(Schema):
    id = fields.Integer(required=True)
    activity_id = fields.Integer(required=True)
    status = fields.String(required=True,
                           metadata={"description": "signed_up | waiting | cancelled | "
                                                    "attended | absent"})


class VolunteersRosterRow(Schema):
    signup_id = fields.Integer(required=True)
    person_id = fields.Integer(required=True)
    name = fields.String(required=True, metadata={"description": "masked: 张**"})
    community = fields.String(required=True)
    status = fields.String(required=True)
    signed_up_at = fields.DateTime(required=True)
    hours_entry_id = fields.Integer(allow_none=True)
    hours = fields.Float(allow_none=True)


class VolunteersRoster(Schema):
    activity = fields.Nested(VolunteersActivity, required=True)
    check_in_open = fields.Boolean(required=True)
    items = fields.List(fields.Nested(VolunteersRosterRow), required=True)


class VolunteersAttendanceIn(Strict):
    signup_id = Id(required=True)
    attended = JsonBoolean(required=True)


class VolunteersCorrectionIn(Strict):
    hours = fields.Float(required=True, allow_nan=False, validate=HOURS)
    reason = Text(required=True, validate=[validate.Length(1, 500), Pattern(SOME)])


class VolunteersCorrection(Schema):
    old_hours = fields.Float(required=True)
    new_hours = fields.Float(required=True)
    reason = fields.String(required=True)
    at = fields.DateTime(required=True)


class VolunteersEntry(Schema):
    id = fields.Integer(required=True)
    activity_id = fields.Integer(required=True)
    activity_title = fields.String(required=True)
    person_id = fields.Integer(required=True)
    hours = fields.Float(required=True)
    served_at = fields.DateTime(required=True)
    corrections = fields.List(fields.Nested(VolunteersCorrection), required=True)


class VolunteersYearHours(Schema):
    year = fields.Integer(required=True)
    hours = fields.Float(required=True)


class VolunteersMySignup(Schema):
    activity = fields.Nested(VolunteersActivity, required=True)
    status = fields.String(required=True)


class VolunteersRecord(Schema):
    total_hours = fields.Float(required=True)
    per_year = fields.List(fields.Nested(VolunteersYearHours), required=True)
    signups = fields.List(fields.Nested(VolunteersMySignup), required=True)
    entries = fields.List(fields.Nested(VolunteersEntry), required=True)


class VolunteersSummaryArgs(Schema):
    community = fields.String(required=True, validate=Pattern(COMMUNITY))
    year = fields.Integer(required=True, validate=validate.Range(2000, 2100))


class VolunteersMonth(Schema):
    month = fields.Integer(required=True)
    hours = fields.Float(required=True)


class VolunteersSummary(Schema):
    community = fields.String(required=True)
    year = fields.Integer(required=True)
    volunteers = fields.Integer(required=True)
    activities = fields.Integer(required=True)
    total_hours = fields.Float(required=True)
    months = fields.List(fields.Nested(VolunteersMonth), required=True)


class VolunteersSummaryRow(Schema):
    person_id = fields.Integer(required=True)
    name = fields.String(required=True, metadata={"description": "masked: 张**"})
    activities = fields.Integer(required=True)
    hours = fields.Float(required=True)


class VolunteersSummaryVolunteers(Schema):
    community = fields.String(required=True)
    year = fields.Integer(required=True)
    items = fields.List(fields.Nested(VolunteersSummaryRow), required=True)
