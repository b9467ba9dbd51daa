"""Security headers on every response (docs/requirements.md R14), and who needs a CSRF token."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response
from flask_login import current_user

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


#: The headers every response carries unless the view set its own (name, value).
HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(self)"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
NO_STORE = ("Cache-Control", "no-store")


def init_app(app: Flask, kernel: Any) -> None:
    production = kernel.config.is_production
    always = (*HEADERS, HSTS) if production else HEADERS

    @app.after_request
    def _headers(resp: Response) -> Response:
        # One pass over the names the view set, not a setdefault per header: werkzeug's
        # setdefault raises and catches a KeyError for every header that is absent (eight
        # exceptions a response, ~6 % of an API read's after-request work).
        h = resp.headers
        present = {name.lower() for name, _ in h.items()}
        h.extend([kv for kv in always if kv[0].lower() not in present])
        if (resp.mimetype in ("text/html", "application/json")
                and "cache-control" not in present):
            h.add(*NO_STORE)
        return resp


def authenticated_by_token() -> bool:
    """Whether this request is authenticated by a bearer token and by nothing else. Only
    then is the CSRF check skipped: a token is not sent by the browser on its own, so a
    forged cross-site request cannot carry it. A request the session cookie authenticates
    is checked whatever other headers it carries — ``Authorization: Bearer x`` next to the
    cookie used to switch the check off (issue 15, finding 8). Flask-Login tries the
    cookie first, so a principal from a token means no valid session came with it."""
    return bool(getattr(current_user, "is_authenticated", False)
                and getattr(current_user, "via_token", False))
