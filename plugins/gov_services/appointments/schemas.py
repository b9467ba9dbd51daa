"""marshmallow schemas of the appointments API."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import JsonBoolean, Pattern, Strict, Text

CODE = r"^[a-z][a-z0-9_]{1,59}$"
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class SlotQuery(Schema):
    day = fields.Date(required=True, metadata={"description": "ISO date, the office's day"})


class SlotOut(Schema):
    time = fields.String(required=True, metadata={"description": "HH:MM, app.timezone"})
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    capacity = fields.Integer(required=True)
    free = fields.Integer(required=True)


class SlotList(Schema):
    service_code = fields.String(required=True)
    office = fields.String(required=True)
    day = fields.Date(required=True)
    open = fields.Boolean(required=True)
    items = fields.List(fields.Nested(SlotOut), required=True)


class BookIn(Strict):
    service_code = fields.String(required=True, validate=Pattern(CODE))
    day = fields.Date(required=True)
    time = fields.String(required=True, validate=Pattern(HHMM))


class ChangeIn(Strict):
    day = fields.Date(required=True)
    time = fields.String(required=True, validate=Pattern(HHMM))


class BookingOut(Schema):
    id = fields.Integer(required=True)
    service_code = fields.String(required=True)
    office = fields.String(required=True)
    day = fields.Date(required=True)
    time = fields.String(required=True)
    starts_at = fields.DateTime(required=True)
    ends_at = fields.DateTime(required=True)
    state = fields.String(required=True)
    queue_number = fields.String(allow_none=True)
    counter = fields.Integer(allow_none=True)


class BookingList(Schema):
    items = fields.List(fields.Nested(BookingOut), required=True)


class StaffBookingOut(BookingOut):
    person_id = fields.Integer(required=True)
    name = fields.String(required=True, metadata={"description": "masked"})
    missed_recently = fields.Integer(required=True)


class DayQuery(Schema):
    office = fields.String(required=True, validate=Pattern(CODE))
    day = fields.Date(load_default=None)


class DayList(Schema):
    office = fields.String(required=True)
    day = fields.Date(required=True)
    items = fields.List(fields.Nested(StaffBookingOut), required=True)


class CallNextIn(Strict):
    office = fields.String(required=True, validate=Pattern(CODE))
    counter = fields.Integer(required=True, validate=validate.Range(1, 99))


class CallNextOut(Schema):
    called = fields.Nested(BookingOut, allow_none=True)


class RuleIn(Strict):
    minutes = fields.Integer(required=True, validate=validate.Range(5, 240))
    capacity = fields.Integer(required=True, validate=validate.Range(1, 50))
    days_ahead = fields.Integer(load_default=14, validate=validate.Range(1, 60))
    cutoff_hours = fields.Integer(load_default=2, validate=validate.Range(0, 72))
    active = JsonBoolean(load_default=True)


class RuleOut(Schema):
    service_code = fields.String(required=True)
    office = fields.String(required=True)
    minutes = fields.Integer(required=True)
    capacity = fields.Integer(required=True)
    days_ahead = fields.Integer(required=True)
    cutoff_hours = fields.Integer(required=True)
    active = fields.Boolean(required=True)


class HoursIn(Strict):
    periods = fields.List(fields.List(fields.String(validate=Pattern(HHMM)),
                                      validate=validate.Length(equal=2)),
                          required=True, validate=validate.Length(max=6))


class CounterIn(Strict):
    label_zh = Text(one_line=True, load_default="", validate=validate.Length(max=100))
    label_en = Text(one_line=True, load_default="", validate=validate.Length(max=100))
    active = JsonBoolean(load_default=True)


class CounterOut(Schema):
    number = fields.Integer(required=True)
    label_zh = fields.String(required=True)
    label_en = fields.String(required=True)
    active = fields.Boolean(required=True)


class OfficeSetup(Schema):
    office = fields.String(required=True)
    counters = fields.List(fields.Nested(CounterOut), required=True)
    hours = fields.Dict(keys=fields.String(), values=fields.List(fields.List(fields.String())),
                        required=True, metadata={"description": "weekday 0–6 → [[opens, closes]]"})
    rules = fields.List(fields.Nested(RuleOut), required=True)


#: How an appointment step was taken: the resident on the web (pages or API), a worker
#: for them in the assisted channel, or staff at the office's desk.
CHANNELS = ("web", "assisted", "counter")


class AppointmentEvent(Schema):
    """Payload of ``gov_services.appointment.*``: the booking's ids and codes and its slot,
    never personal data (the person is ``person_id``, read from the registry within one's
    scopes). Times: ``day``/``time`` are the office's local day and clock time in
    ``timezone``; ``starts_at``/``ends_at``/``at`` are ISO 8601 in UTC with their offset,
    as every other event's times."""

    booking_id = fields.Integer(required=True)
    service_code = fields.String(required=True)
    office = fields.String(required=True, metadata={"description": "The catalogue's office"})
    person_id = fields.Integer(required=True)
    community = fields.String(required=True, allow_none=True)
    state = fields.String(required=True, validate=validate.OneOf(
        ["booked", "cancelled", "checked_in", "no_show"]),
        metadata={"description": "the booking's state after the step"})
    day = fields.Date(required=True, metadata={"description": "The office's local day"})
    time = fields.String(required=True, validate=Pattern(HHMM),
                         metadata={"description": "Local start HH:MM in `timezone`"})
    starts_at = fields.AwareDateTime(required=True, metadata={"description": "UTC"})
    ends_at = fields.AwareDateTime(required=True, metadata={"description": "UTC"})
    timezone = fields.String(required=True,
                             metadata={"description": "IANA zone of `day` and `time`"})
    # the choices are checked by a plain validator, not OneOf: the JSON Schema's enum
    # would leave out null, so a no-show the sweep found would not validate
    channel = fields.String(load_default=None, allow_none=True,
                            validate=lambda v: v in CHANNELS,
                            metadata={"description": "`web`, `assisted` or `counter`; null: "
                                                     "by the system or not known"})
    queue_number = fields.Integer(load_default=None, allow_none=True,
                                  metadata={"description": "`checked_in` only"})
    previous_day = fields.Date(load_default=None, allow_none=True,
                               metadata={"description": "`changed` only"})
    previous_time = fields.String(load_default=None, allow_none=True, validate=Pattern(HHMM),
                                  metadata={"description": "`changed` only"})
    previous_starts_at = fields.AwareDateTime(load_default=None, allow_none=True,
                                              metadata={"description": "`changed` only, UTC"})
    previous_ends_at = fields.AwareDateTime(load_default=None, allow_none=True,
                                            metadata={"description": "`changed` only, UTC"})
    at = fields.AwareDateTime(required=True, metadata={"description": "When (UTC)"})
