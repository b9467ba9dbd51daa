"""Sign-in throttling (docs/requirements.md R02, issue 17) and the other rate limits, with
Flask-Limiter's storage.

A lockout anyone can trigger is a way to keep a resident out, so failed sign-ins are counted
three ways and only the first two ever refuse:

* per (account, client address) — ``identity.login_failures_per_account_ip`` ("5 per
  day": five failures, remembered for a day). After each five failures that address waits
  the next of ``identity.login_delay_minutes`` (1, 5, 15, 60, then 60 again): even the right
  password is refused meanwhile (429 with Retry-After), so guessing cannot continue in the
  background. A successful sign-in from that address clears its count.
* per client address, any account — ``identity.login_failures_per_ip`` ("50 per 15
  minutes"): an address trying many accounts is refused until the window ends.
* per account, from every address — ``identity.login_failures_per_account`` ("10 per
  hour"). Over it the account is NOT refused: a sign-in then needs the password AND a
  one-time code (purpose ``login``) sent to the account's verified phone or e-mail, so the
  owner still signs in while an attacker spread over many addresses cannot. The step is
  asked whether or not the password was right (and whether or not the account exists), so
  it tells an attacker nothing; the code goes out only when the password was right.

Each account counter is keyed by the account the login resolves to (:func:`account_key`),
so another spelling of the same account — upper case, its mobile number — shares it; a
login that resolves to nobody is counted under its normalised text, exactly alike.

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
import math
import time
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

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        """flask-limiter's ``before_request``. Nothing under ``/api/`` or ``/static/`` is
        limited by it (see ``_not_limited``), but it resolved the route's limits before
        asking the filter: ~5 % of an API read. Those requests now return at once; a
        view's own ``@limiter.limit`` (``in_middleware=False``) is checked as before."""
        if in_middleware and (request.path.startswith(("/api/", "/static/"))
                              or self._nothing_in_middleware()):
            return
        super()._check_request_limit(callable_name, in_middleware)

    def _nothing_in_middleware(self) -> bool:
        """Whether the middleware pass could find a limit for this request at all. It can
        apply only application, default, meta and blueprint limits and the limits a
        decorated helper left as a hint on the endpoint (a view's own ``@limiter.limit``
        is checked by its decorator, not here); Shequ declares none of the first four, so
        on a page such as ``/`` flask-limiter resolved the route's limits for nothing
        (~40-60 µs of the home page, docs/performance.md). Read on every request, so a
        limit added later (or the storage falling back to memory) is seen at once."""
        manager = self.limit_manager
        return not (
            self._storage_dead
            or self._meta_limits
            or manager._application_limits
            or manager._default_limits
            or manager._blueprint_limits
            or manager.has_hints(request.endpoint or "")
        )


limiter = AppLimiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def account_key(login: str) -> str:
    """The account a typed login names, as a counter key — the account the login resolves
    to, so the count follows the account and not the spelling (``Name``, ``name``, its
    mobile number). A login that resolves to nobody is counted under its normalised text."""
    from core.db import current_session
    from core.identity.services import find_login

    typed = (login or "").strip()[:64]
    user = find_login(current_session(), typed) if typed else None
    if user is not None:
        return f"user:{user.id}"
    return f"name:{typed.lower()}"


def client_ip() -> str:
    """The client's address as the app sees it: ``request.remote_addr`` after ProxyFix
    (``server.proxy_hops``), so a forged X-Forwarded-For does not escape the limits."""
    return request.remote_addr or "-"


def _settings() -> dict[str, Any]:
    from core.current import current_kernel

    return current_kernel().config.identity


def _rate(name: str) -> Any:
    from limits import parse

    return parse(str(_settings()[name]))


def _raw_key(*parts: str) -> str:
    prefix = limiter._key_prefix
    return "/".join(["LIMITER", *([prefix] if prefix else []), *parts])


def _wait_left(key: str) -> int:
    storage = limiter.storage
    if not storage.get(key):
        return 0
    return max(1, math.ceil(storage.get_expiry(key) - time.time()))


def login_wait(account: str, ip: str | None = None) -> int:
    """Seconds this address must wait before trying ``account`` again (0: it may try):
    the per-address throttle first, then the growing per-(account, address) delay."""
    ip = ip or client_ip()
    return ip_wait(ip) or _wait_left(_raw_key("login-wait", account, ip))


def ip_wait(ip: str | None = None) -> int:
    """Seconds this address must wait after too many failures on any account (0: none)."""
    ip = ip or client_ip()
    per_ip = _rate("login_failures_per_ip")
    if not test(per_ip, "login-ip", ip):
        return max(1, math.ceil(reset_at(per_ip, "login-ip", ip) - time.time()))
    return 0


def record_ip_failure(ip: str | None = None) -> None:
    """Count a failure that names no account for sure (a wrong reset code) against the
    address only."""
    hit(_rate("login_failures_per_ip"), "login-ip", ip or client_ip())


def record_login_failure(account: str, ip: str | None = None) -> None:
    """Count one failed sign-in (a wrong password or a wrong sign-in code) of ``account``
    from ``ip`` on all three counters; every ``amount``-th failure from the address starts
    its next, longer wait."""
    ip = ip or client_ip()
    hit(_rate("login_failures_per_ip"), "login-ip", ip)
    hit(_rate("login_failures_per_account"), "login-account", account)
    pair = _rate("login_failures_per_account_ip")
    storage = limiter.storage
    count = storage.incr(_raw_key("login-fails", account, ip), int(pair.get_expiry()))
    if count % pair.amount == 0:
        delays = [int(m) for m in _settings().get("login_delay_minutes") or [1, 5, 15, 60]]
        minutes = delays[min(count // pair.amount, len(delays)) - 1]
        wait_key = _raw_key("login-wait", account, ip)
        storage.clear(wait_key)
        storage.incr(wait_key, minutes * 60)


def login_needs_code(account: str) -> bool:
    """Whether ``account`` has failed so often, from every address together, that a sign-in
    also needs a one-time code (the account is being attacked: its owner is not refused)."""
    return not test(_rate("login_failures_per_account"), "login-account", account)


def login_succeeded(account: str, ip: str | None = None) -> None:
    """The owner signed in from ``ip``: that address starts afresh (its count and wait)."""
    ip = ip or client_ip()
    limiter.storage.clear(_raw_key("login-fails", account, ip))
    limiter.storage.clear(_raw_key("login-wait", account, ip))


def throttle_wait(rate: str, *identifiers: str) -> int:
    """Count one request against ``rate`` for ``identifiers``; the seconds to wait when it
    is over (nothing is counted then), else 0 — for a public form or API call a plugin
    must bound (answer 429 with ``Retry-After`` on the API, "try again in N seconds" on a
    page). ``rate`` is a ``limits`` rate string: ``"60 per minute"``, ``"5 per 15
    minutes"``, ``"100/hour"``. ``identifiers`` name the counter: start with the plugin
    and the purpose, then the client (``"documents-verify", request.remote_addr``).

    The count lives in the app's limiter storage (``[limits] storage_uri`` with its
    ``key_prefix``), the same as core's sign-in throttling: Redis when configured, so every
    gunicorn worker shares one count; ``memory://`` otherwise, which counts per process
    (production refuses it with several workers). Needs an app context."""
    from limits import parse

    item = parse(rate)
    if not test(item, *identifiers):
        return max(1, math.ceil(reset_at(item, *identifiers) - time.time()))
    hit(item, *identifiers)
    return 0


def wait_minutes(seconds: int) -> int:
    """A wait in whole minutes, rounded up (what "try again in X minutes" says)."""
    return max(1, math.ceil(seconds / 60))


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
