"""One error shape for every ``/api`` response, whatever raised it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from flask import Flask, Response, g, jsonify, request
from marshmallow import Schema
from marshmallow import fields as ma
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger("shequ.api")

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "server_error",
    503: "unavailable",
}


class ErrorBodySchema(Schema):
    status = ma.Integer(required=True)
    code = ma.String(required=True)
    message = ma.String(required=True)
    fields = ma.Dict(metadata={"description": "Field name → list of messages (422)"})
    request_id = ma.String(required=True)


class ErrorSchema(Schema):
    error = ma.Nested(ErrorBodySchema, required=True)


def request_id() -> str:
    if "request_id" not in g:
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = (
            incoming if 8 <= len(incoming) <= 64 and incoming.isalnum() else uuid.uuid4().hex
        )
    return g.request_id


def is_api_request() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def error_response(
    status: int, message: str, field_errors: Any = None, headers: Any = None
) -> Response:
    body: dict[str, Any] = {
        "status": status,
        "code": CODES.get(status, "error"),
        "message": message,
        "request_id": request_id(),
    }
    if field_errors:
        body["fields"] = field_errors
    resp = jsonify({"error": body})
    resp.status_code = status
    if headers:
        for key, value in dict(headers).items():
            if key.lower() not in ("content-type", "content-length"):
                resp.headers[key] = value
    return resp


def _field_errors(exc: HTTPException) -> Any:
    """webargs puts marshmallow's messages on ``exc.data``; location-keyed (json, query)
    messages are flattened one level so clients see field names directly."""
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if isinstance(messages, dict) and set(messages) <= {
        "json",
        "query",
        "form",
        "files",
        "headers",
        "path",
        "view_args",
    }:
        merged: dict[str, Any] = {}
        for part in messages.values():
            if isinstance(part, dict):
                merged.update(part)
            else:
                merged.setdefault("_schema", part)
        return merged
    return messages


def register_error_handlers(app: Flask, api: Any) -> None:
    """API errors as JSON. Page errors are the web shell's business (``core.web``); each
    handler hands over to it when the request is not under /api."""

    def handle_http(exc: HTTPException) -> Any:
        if not is_api_request():
            from core.web.errors import page_error

            return page_error(exc)
        status = exc.code or 500
        message = exc.description or ""
        if status == 422 or (status == 400 and _field_errors(exc)):
            message = "The request has invalid fields." if status == 422 else message
        resp_headers = exc.get_response().headers if status in (405, 429, 503) else None
        if status == 401:
            resp_headers = {"WWW-Authenticate": 'Bearer realm="shequ"'}
        return error_response(status, message, _field_errors(exc), resp_headers)

    def handle_unexpected(exc: Exception) -> Any:
        rid = request_id()
        log.exception("unhandled error (request %s)", rid)
        if not is_api_request():
            from core.web.errors import page_error

            return page_error(InternalServerError())
        return error_response(
            500, "Something went wrong on our side. Quote the request id if you report it."
        )

    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_unexpected)
