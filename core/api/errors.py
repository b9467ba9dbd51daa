"""One error shape for every ``/api`` response, whatever raised it."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from marshmallow import Schema
from marshmallow import fields as ma
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    InternalServerError,
    ServiceUnavailable,
)

from core.requestid import request_id  # re-exported: the API's error bodies quote it
from core.rules import RuleError

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
    field_messages = ma.Dict(  # "fields" itself would shadow Schema.fields
        data_key="fields", metadata={"description": "Field name → list of messages (422)"}
    )
    request_id = ma.String(required=True)


class ErrorSchema(Schema):
    error = ma.Nested(ErrorBodySchema, required=True)


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


def _message(exc: HTTPException) -> str:
    """The message a view gave: ``flask_smorest.abort(404, message="No such book.")`` puts
    it on ``exc.data``, ``werkzeug.exceptions.NotFound("No such book.")`` in the
    description; without either, werkzeug's generic text for the status."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"]:
        return data["message"]
    return exc.description or ""


def register_error_handlers(app: Flask, api: Any) -> None:
    """API errors as JSON. Page errors are the web shell's business (``core.web``); each
    handler hands over to it when the request is not under /api."""

    def handle_http(exc: HTTPException) -> Any:
        if not is_api_request():
            from core.web.errors import page_error

            return page_error(exc)
        status = exc.code or 500
        message = _message(exc)
        data = getattr(exc, "data", None)
        given = isinstance(data, dict) and isinstance(data.get("message"), str)
        if status == 422 and not given:
            message = "The request has invalid fields."
        resp_headers: Any = exc.get_response().headers if status in (405, 429, 503) else None
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

    def handle_database_down(exc: Exception) -> Any:
        """The database refused or dropped the connection: a temporary condition, so 503
        with Retry-After, not a 500. The pool has already invalidated the broken
        connection, so the first request after the database returns succeeds with no
        restart (tests/reliability)."""
        if not is_disconnect(exc):
            return handle_unexpected(exc)
        log.warning("database unavailable (request %s): %s", request_id(),
                    str(exc).splitlines()[0][:200])
        unavailable = ServiceUnavailable(DATABASE_DOWN, retry_after=DATABASE_RETRY_AFTER)
        return handle_http(unavailable)

    def handle_recursion(exc: RecursionError) -> Any:
        """JSON nested deeper than the parser's recursion limit (``[[[[...`` a hundred
        thousand levels): unreadable JSON like any other, 400 — not a 500. webargs parses
        bodies with the standard ``json`` module, so this is where it surfaces."""
        if is_api_request() and request.is_json:
            return handle_http(BadRequest("The JSON body is nested too deeply."))
        return handle_unexpected(exc)

    def handle_rule(exc: RuleError) -> Any:
        """A service's refusal that the view let through: its own status and message, the
        field it names (``core.rules``). Pages show it as the page error of that status."""
        if not is_api_request():
            from core.web.errors import page_error

            return page_error(_page_exception(exc))
        fields = None if exc.status in (403, 404) else exc.field_texts()
        return error_response(exc.status, exc.text(), fields)

    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(RuleError, handle_rule)
    app.register_error_handler(RecursionError, handle_recursion)
    app.register_error_handler(OperationalError, handle_database_down)
    app.register_error_handler(InterfaceError, handle_database_down)
    app.register_error_handler(Exception, handle_unexpected)


def _page_exception(exc: RuleError) -> HTTPException:
    from werkzeug.exceptions import default_exceptions

    cls = default_exceptions.get(exc.status, BadRequest)
    return cls(exc.text())


#: Seconds a client should wait before retrying while the database is unreachable.
DATABASE_RETRY_AFTER = 5
DATABASE_DOWN = "The database is unreachable for a moment. Try again in a few seconds."


def is_disconnect(exc: Exception) -> bool:
    """A lost or refused database connection, as opposed to a bad statement: SQLAlchemy
    flags disconnects it recognised; a refused connect never got that far."""
    if getattr(exc, "connection_invalidated", False):
        return True
    text = str(getattr(exc, "orig", exc)).lower()
    return any(s in text for s in (
        "connection refused", "could not connect", "server closed the connection",
        "connection is closed", "terminating connection", "connection timeout",
        "the database system is shutting down", "the database system is starting up",
        "consuming input failed", "connection reset", "database is locked",
        "unable to open database",
    ))
