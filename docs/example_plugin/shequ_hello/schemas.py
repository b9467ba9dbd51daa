"""marshmallow schemas: the API's input and output, and the event's payload."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import page_schema

# The API states what the services accept (some visible text, no control characters),
# so the OpenAPI document is true and clients can validate before sending. Keep patterns to
# the syntax every JSON Schema validator shares (Python, ECMAScript, Rust).
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"  # tab, LF and CR are allowed
_CONTROL_LINE = r"\x00-\x1f\x7f"
TEXT = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"
LINE = rf"^[^{_CONTROL_LINE}]*[^\s{_CONTROL_LINE}][^{_CONTROL_LINE}]*$"


class HelloGreetingIn(Schema):
    """A new greeting. OpenAPI schema names are global: prefix them with the plugin."""

    recipient = fields.String(
        required=True,
        validate=[validate.Length(1, 100), validate.Regexp(LINE, error="Enter a name.")],
    )
    message = fields.String(
        required=True,
        validate=[validate.Length(1, 500), validate.Regexp(TEXT, error="Enter a message.")],
    )


class HelloGreeting(Schema):
    id = fields.Integer(required=True)
    sender_id = fields.Integer(allow_none=True)
    recipient = fields.String(required=True)
    message = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    delivered_at = fields.DateTime(allow_none=True)


GreetingPage = page_schema(HelloGreeting, "HelloGreetingPage")


class GreetingSentEvent(Schema):
    """Payload of ``hello.greeting.sent``."""

    greeting_id = fields.Integer(required=True)
    sender_id = fields.Integer(required=True, allow_none=True)
    recipient = fields.String(required=True)
