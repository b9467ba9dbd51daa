"""Login throttling (security.md R02) with Flask-Limiter.

Only failures count: five per account per 15 minutes, plus a wider per-IP limit, both
configurable. The sixth attempt answers 429 with Retry-After even with the right password,
so guessing cannot continue in the background. Storage is ``limits.storage_uri``: memory
for one process, Redis when several workers share the limits.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def login_key() -> str:
    """The account being tried, normalised, so the limit follows the account and not the
    spelling."""
    name = (request.form.get("username") or "").strip().lower()
    return f"login:{name}"


def init_app(app: Flask, kernel: Any) -> None:
    app.config["RATELIMIT_STORAGE_URI"] = kernel.config.limits["storage_uri"]
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    app.config["RATELIMIT_SWALLOW_ERRORS"] = False
    limiter.init_app(app)

    @limiter.request_filter
    def _not_limited() -> bool:
        # Limits here guard sign-in, sign-up and verification pages only: skipping the
        # limiter's per-request work for the API and static files keeps reads cheap.
        return request.path.startswith(("/api/", "/static/"))


def failed(response: Any) -> bool:
    """Deduct only for refused credentials (401), not for a blank form (400)."""
    return response.status_code == 401
