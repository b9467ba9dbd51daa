"""marshmallow schemas: the API's input and output, and the event's payload."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import LINE, TEXT, Pattern, page_schema

# The API states what the services accept (some visible text, no control characters) with
# the toolkit's patterns, so the OpenAPI document is true and clients can validate before
# sending. Pattern (not marshmallow's Regexp) matches the whole value, as the document reads.


class HelloGreetingIn(Schema):
    """A new greeting. OpenAPI schema names are global: prefix them with the plugin."""

    recipient = fields.String(
        required=True,
        validate=[validate.Length(1, 100), Pattern(LINE, error="Enter a name.")],
    )
    message = fields.String(
        required=True,
        validate=[validate.Length(1, 500), Pattern(TEXT, error="Enter a message.")],
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
