"""The JSON API: flask-smorest at ``/api/v1``, one error format, one pagination rule.

Every response under ``/api`` is JSON, errors included: ``{"error": {"status", "code",
"message", "fields"?, "request_id"}}``. A client can always parse the body, and an operator
can always find the request in the logs by its id.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, current_app, request
from flask_login import current_user
from flask_smorest import Api

from core.api.errors import ErrorSchema, register_error_handlers
from core.api.pagination import add_pagination_header
from core.version import __version__

API_PREFIX = "/api/v1"


class ShequApi(Api):
    """flask-smorest's Api with Shequ's error shape documented as the ``Error`` schema."""

    ERROR_SCHEMA = ErrorSchema


def _check_bearer() -> None:
    """A request that presents a token must present a valid one: answering it as if
    anonymous would hide an expired or revoked token from its integrator."""
    if request.headers.get("Authorization", "").startswith("Bearer ") and not (
        current_user.is_authenticated
    ):
        abort(401, description="The bearer token is unknown, expired or revoked.")


def check_body() -> None:
    """Refuse API bodies the endpoints cannot read before any view runs: too large (413)
    or not JSON (415). Forms and uploads are for pages, not for /api."""
    if not request.path.startswith(f"{API_PREFIX}/"):
        return
    if request.routing_exception is not None:
        return  # no such URL or method: routing's 404/405 comes first, whoever asks
    _check_bearer()
    if request.method in ("GET", "HEAD", "OPTIONS", "DELETE"):
        return
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length and request.content_length > limit:
        abort(413, description=f"The body is larger than {limit} bytes.")
    has_body = bool(request.content_length) or "chunked" in request.headers.get(
        "Transfer-Encoding", ""
    )
    if has_body and not request.is_json:
        abort(415, description="Send the body as JSON with 'Content-Type: application/json'.")
    if not has_body and _needs_json_body():
        abort(400, description="This operation needs a JSON body (send {} when every field "
                               "is optional).")


def _needs_json_body() -> bool:
    """Whether the view declares a required JSON body (flask-smorest's ``arguments`` keeps
    its declaration on the view function): a missing body is then a malformed request,
    as the OpenAPI document says, not an empty set of arguments."""
    view = current_app.view_functions.get(request.endpoint or "")
    cls = getattr(view, "view_class", None)
    func = getattr(cls, request.method.lower(), None) if cls is not None else view
    params = getattr(func, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    return any(p.get("in") == "json" and p.get("required", True) for p in params)


def init_app(app: Flask, kernel: Any) -> None:
    app.config.update(
        API_TITLE="Shequ API",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH=None,
        OPENAPI_REDOC_PATH=None,
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Shequ's JSON API. URLs follow /api/v1/<area>/<resources>, where the "
                    "area is registry, identity or a plugin id with dashes. Authenticate "
                    "with `Authorization: Bearer <token>`. Lists are paginated with "
                    "`page` and `page_size` and return `X-Pagination`; every error has "
                    "the Error shape."
                )
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                }
            },
        },
    )
    api = ShequApi(app)
    kernel.api = api
    register_error_handlers(app, api)

    from core.api import core_api, health

    app.register_blueprint(health.bp)
    app.before_request(check_body)
    app.after_request(add_pagination_header)

    for area, bps in core_api.blueprints().items():
        for bp in bps:
            api.register_blueprint(bp, url_prefix=f"{API_PREFIX}/{area}")
