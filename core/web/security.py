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


def init_app(app: Flask, kernel: Any) -> None:
    production = kernel.config.is_production

    @app.after_request
    def _headers(resp: Response) -> Response:
        h = resp.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(self)")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if production:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if resp.mimetype == "text/html" or resp.mimetype == "application/json":
            h.setdefault("Cache-Control", "no-store")
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
