"""``create_app`` — the only application factory.

The order below is the start-up contract: config is validated before anything else runs;
plugins are loaded and checked before any of their hooks is called; core's blueprints are
registered before plugins' so a plugin cannot shadow a core URL; the ``shequ_startup`` hook
runs last, when everything it might look at exists.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from core.config import Config, ensure_secret_key, load_config
from core.current import EXTENSION, kernel_of
from core.db import Database, close_request_session
from core.events import EventBus
from core.plugins import PluginHost
from core.rules import MAX_ID

log = logging.getLogger("shequ")
CORE_DIR = Path(__file__).resolve().parent


@dataclass
class Kernel:
    """Everything core holds for one app (:func:`core.current.kernel_of`)."""

    config: Config
    db: Database
    plugins: PluginHost
    bus: EventBus
    api: Any = None
    permissions: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, set[str]] = field(default_factory=dict)
    startup_ms: float = 0.0
    #: Periodic jobs by name (``register_jobs``), run by the event workers (core.jobs).
    jobs: dict[str, Any] = field(default_factory=dict)
    #: The password hasher (argon2id, cheaper parameters in tests).
    hasher: Any = None
    #: Each plugin's own per-app objects (a loaded catalogue, a client): ``state(id)``.
    plugin_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Blueprint name → the plugin that registered it (its pages speak its catalogue first).
    blueprint_owners: dict[str, str] = field(default_factory=dict)

    def state(self, plugin_id: str) -> dict[str, Any]:
        """A dict that lives as long as this app, for ``plugin_id``'s own objects. Why not
        module globals: tests and embedders build several apps in one process."""
        return self.plugin_state.setdefault(plugin_id, {})


class Int32Converter(IntegerConverter):
    """``<int:...>`` in every URL, bounded to the 32-bit ids the tables use: a larger
    number names nothing, so it is a 404 from routing (and the OpenAPI document says
    ``maximum: 2147483647``) instead of an out-of-range error from PostgreSQL."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(
    config: Config | None = None,
    *,
    plugins: dict[str, Any] | None = None,
) -> Flask:
    """Build the app from ``config`` (default: ``SHEQU_CONFIG`` or config/default.toml).

    ``plugins`` maps ids to plugin objects that are not installed as entry points (tests and
    embedders); they still have to be listed in ``plugins.enabled``.
    Raises ``ConfigError`` or ``PluginError`` with an operator-readable message.
    """
    started = time.perf_counter()
    config = config or load_config()
    app = Flask(
        "shequ",
        root_path=str(CORE_DIR),
        instance_path=str(config.instance_path),
        template_folder="web/templates",
        static_folder="web/static",
        static_url_path="/static",
    )
    app.url_map.converters["int"] = Int32Converter
    config.instance_path.mkdir(parents=True, exist_ok=True)
    secure = {"on": True, "off": False}.get(config.app["secure_cookies"], config.is_production)
    if config.is_production and not secure:
        log.warning("app.secure_cookies is off: session cookies travel over plain HTTP "
                    "(acceptable on 127.0.0.1 only)")
    app.config.update(
        SECRET_KEY=ensure_secret_key(config),
        MAX_CONTENT_LENGTH=config.app["max_content_length"],
        TRUSTED_HOSTS=config.app["trusted_hosts"] or None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        # Secure, the __Host- prefix pins the cookie to this host, over HTTPS, Path=/.
        SESSION_COOKIE_NAME="__Host-shequ" if secure else "shequ_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.identity["session_absolute_hours"]),
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
        JSON_SORT_KEYS=False,
        TESTING=config.app["env"] == "test",
        DEBUG=False,
    )

    if config.server["proxy_hops"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = config.server["proxy_hops"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]  # Flask's documented way to wrap it

    host = PluginHost()
    host.load(
        config.plugins_enabled,
        strict=config.plugins_strict,
        settings=config.plugin_settings,
        extra=plugins,
    )
    db = Database(
        config.database_url, echo=config.database["echo"], pool_size=config.database["pool_size"]
    )
    bus = EventBus(db, config.events)
    from core.identity.passwords import make_hasher

    hasher = make_hasher(config.app["env"])
    kernel = Kernel(config=config, db=db, plugins=host, bus=bus, hasher=hasher)
    app.extensions[EXTENSION] = kernel
    app.extensions["shequ.hasher"] = hasher  # still read by code written before 1.1
    app.teardown_appcontext(close_request_session)

    from core import api, exchange, identity, jobs, logs, metrics, registry, web
    from core.events.views import bp as events_admin_pages
    from core.identity import account_views, admin_views
    from core.identity import views as identity_pages

    logs.init_app(app, kernel)  # request id header, JSON request lines (core/logs.py)
    metrics.init_app(app, kernel)  # request timing and /metrics (core/metrics.py)

    registry.init_app(app, kernel)
    identity.init_app(app, kernel)
    # Identity's pages import its gates (require, has_permission), so the package cannot
    # register them without an import cycle: the factory does, right after init_app.
    app.register_blueprint(identity_pages.bp)
    app.register_blueprint(admin_views.bp)
    __import__("core.identity.signup_views")  # sign-up and verification: on account's bp
    app.register_blueprint(account_views.bp)
    __import__("core.notices", fromlist=["init_app"]).init_app(app, kernel)  # pages, batches
    exchange.init_app(app, kernel)
    web.init_app(app, kernel)
    api.init_app(app, kernel)
    bus.init_app(app, kernel)
    app.register_blueprint(events_admin_pages)  # a page: the web layer, not the bus's
    kernel.jobs = jobs.collect(app, host)

    for pid, blueprints in host.call_ordered("register_blueprints", app=app):
        area = host.info(pid).area
        for bp in blueprints:
            app.register_blueprint(bp, url_prefix=f"/{area}")
            kernel.blueprint_owners[bp.name] = pid
    for pid, blueprints in host.call_ordered("register_api", api=kernel.api):
        area = host.info(pid).area
        for bp in blueprints:
            kernel.api.register_blueprint(bp, url_prefix=f"/api/v1/{area}")
            kernel.blueprint_owners[bp.name] = pid

    host.call_ordered("shequ_startup", app=app)
    kernel.startup_ms = (time.perf_counter() - started) * 1000
    return app


def get_kernel(app: Flask) -> Kernel:
    """The app's :class:`Kernel` (:func:`core.current.kernel_of`, typed)."""
    return kernel_of(app)
