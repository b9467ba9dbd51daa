"""marshmallow schemas: the API's input and output. OpenAPI component names are global,
so they are prefixed with the plugin."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import page_schema

# Some visible text, no control characters: stated in the schema, so the OpenAPI document
# says what the service accepts and the fuzzer's valid requests are really valid.
LINE = r"^[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f][^\x00-\x1f\x7f]*$"


class DocumentsItemIn(Schema):
    title = fields.String(
        required=True,
        validate=[validate.Length(1, 200), validate.Regexp(LINE, error="Enter a title.")],
    )


class DocumentsItem(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    community = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


DocumentsItemPage = page_schema(DocumentsItem, "DocumentsItemPage")
