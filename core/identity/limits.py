"""Login throttling (docs/requirements.md R02) with Flask-Limiter.

Only failures count: five per account per 15 minutes, plus a wider per-IP limit, both
configurable. The sixth attempt answers 429 with Retry-After even with the right password,
so guessing cannot continue in the background. The account limit is keyed by the account
the login resolves to (:func:`login_key`), so another spelling of the same account — upper
case, its mobile number — shares the counter.

Storage is ``limits.storage_uri``. ``memory://`` counts inside one process: with several
gunicorn workers each would keep its own count and "five attempts" would become five per
worker. So a production start-up with ``memory://`` and ``server.workers`` above 1 is
refused (:func:`shared_storage_problem`); use Redis (``redis://127.0.0.1:6379/0``, as in
``config/production.example.toml``). ``limits.key_prefix`` keeps the keys of deployments
(or test runs) sharing one Redis apart.

Flask-Limiter keeps its storage on the ``Limiter`` object, and Shequ's one limiter is
module-level (the view decorators need it at import time). :class:`AppLimiter` keeps the
storage, the strategy and the key prefix per application instead, so two apps in one
process — tests, or an embedding host — never share or overwrite each other's counts.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, has_app_context, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

_STATE = "shequ.limits"
log = logging.getLogger(__name__)


def _per_app(name: str) -> property:
    """An attribute of Flask-Limiter's that Shequ keeps per application."""

    def get(self: AppLimiter) -> Any:
        state = self._app_state()
        if state is not None:
            return state[name]
        return self.__dict__.get(f"_default{name}")

    def set_(self: AppLimiter, value: Any) -> None:
        self.__dict__[f"_default{name}"] = value

    return property(get, set_)


class AppLimiter(Limiter):
    """A :class:`~flask_limiter.Limiter` whose storage, strategy and key prefix belong to
    each application it was initialised for (see the module docstring)."""

    _storage = _per_app("_storage")
    _limiter = _per_app("_limiter")
    _key_prefix = _per_app("_key_prefix")

    def _app_state(self) -> dict[str, Any] | None:
        if self.__dict__.get("_initialising") or not has_app_context():
            return None
        return current_app.extensions.get(_STATE)

    def init_app(self, app: Flask) -> None:
        self.__dict__["_initialising"] = True
        try:
            for name in ("_storage", "_limiter"):
                self.__dict__[f"_default{name}"] = None
            self.__dict__["_default_key_prefix"] = ""
            super().init_app(app)
            app.extensions[_STATE] = {
                name: self.__dict__.get(f"_default{name}")
                for name in ("_storage", "_limiter", "_key_prefix")
            }
        finally:
            self.__dict__["_initialising"] = False


limiter = AppLimiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def login_key() -> str:
    """The account being tried — the account the login resolves to, so the limit follows
    the account and not the spelling (``Name``, ``name``, its mobile number). A login that
    resolves to nobody is counted under its normalised text."""
    from core.db import current_session
    from core.identity.services import find_login

    typed = (request.form.get("username") or "").strip()[:64]
    user = find_login(current_session(), typed) if typed else None
    if user is not None:
        return f"login:user:{user.id}"
    return f"login:name:{typed.lower()}"


def shared_storage_problem(config: Any) -> str:
    """Why the rate-limit counts would not be shared by every server process, or ``""``:
    ``memory://`` storage with more than one gunicorn worker."""
    uri = str(config.limits.get("storage_uri", "memory://"))
    workers = int(config.server.get("workers", 1))
    if config.database_url.startswith("sqlite") and config.events.get("delivery") == "thread":
        workers = 1  # the embedded default: `shequ run` serves it with one process
    if uri.startswith("memory://") and workers > 1:
        return (
            f"memory:// counts inside one process, so with server.workers = {workers} each "
            "worker keeps its own count and the login limit multiplies; use shared storage "
            "such as redis://127.0.0.1:6379/0"
        )
    return ""


def hit(item: Any, *identifiers: str) -> bool:
    """Count one hit of ``item`` (a ``limits`` rate) for ``identifiers`` in this app's
    storage, with its key prefix; False when over the limit."""
    return limiter.limiter.hit(item, *_prefixed(identifiers))


def test(item: Any, *identifiers: str) -> bool:
    """Whether one more hit of ``item`` for ``identifiers`` would be allowed (counts
    nothing)."""
    return limiter.limiter.test(item, *_prefixed(identifiers))


def reset_at(item: Any, *identifiers: str) -> float:
    """When the window of ``item`` for ``identifiers`` ends (a UNIX time)."""
    return limiter.limiter.get_window_stats(item, *_prefixed(identifiers)).reset_time


def _prefixed(identifiers: tuple[str, ...]) -> tuple[str, ...]:
    prefix = limiter._key_prefix
    return (prefix, *identifiers) if prefix else identifiers


_filter_installed = False


def init_app(app: Flask, kernel: Any) -> None:
    problem = shared_storage_problem(kernel.config)
    if problem and kernel.config.is_production:
        from core.config import ConfigError

        raise ConfigError(kernel.config.source, [("limits.storage_uri", problem)])
    if problem and kernel.config.app.get("env") == "development":
        log.warning("rate limits: %s", problem)
    app.config["RATELIMIT_STORAGE_URI"] = kernel.config.limits["storage_uri"]
    app.config["RATELIMIT_KEY_PREFIX"] = kernel.config.limits.get("key_prefix", "shequ")
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    app.config["RATELIMIT_SWALLOW_ERRORS"] = False
    limiter.init_app(app)

    global _filter_installed
    if not _filter_installed:  # the filter list is the limiter's, shared by every app
        _filter_installed = True

        @limiter.request_filter
        def _not_limited() -> bool:
            # Limits here guard sign-in, sign-up and verification pages only: skipping the
            # limiter's per-request work for the API and static files keeps reads cheap.
            return request.path.startswith(("/api/", "/static/"))


def failed(response: Any) -> bool:
    """Deduct only for refused credentials (401), not for a blank form (400)."""
    return response.status_code == 401
