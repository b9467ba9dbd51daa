"""The web shell: layout, navigation, language, security headers, CSRF, error pages.

Pages are server-rendered and work without JavaScript; every asset is served from
``/static`` (deployments may be offline), and the CSP forbids inline scripts.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request
from flask_babel import Babel, get_locale
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect

from core.web import security
from core.web.i18n import LANGUAGES, select_locale, translation_directories

csrf = CSRFProtect()


def init_app(app: Flask, kernel: Any) -> None:
    app.config.update(
        BABEL_DEFAULT_LOCALE=kernel.config.app["default_locale"],
        BABEL_DEFAULT_TIMEZONE=kernel.config.app["timezone"],
        BABEL_TRANSLATION_DIRECTORIES=";".join(translation_directories(kernel)),
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
    )
    Babel(app, locale_selector=select_locale)
    csrf.init_app(app)

    @app.before_request
    def _csrf() -> None:
        # Calls authenticated by a bearer token alone carry no ambient credentials, so CSRF
        # cannot apply; everything the session cookie authenticates is checked, whatever
        # other headers it carries (security.authenticated_by_token).
        if security.authenticated_by_token():
            return
        if request.routing_exception is not None:
            return  # the 404/405 is the answer; there is nothing to protect
        if request.path.startswith("/api/") and not current_user.is_authenticated:
            return  # no session to ride on: the endpoint's own 401 is the right answer
        csrf.protect()

    security.init_app(app, kernel)

    @app.context_processor
    def _shell() -> dict[str, Any]:
        return {
            "nav": navigation(kernel),
            "locale": str(get_locale()),
            "languages": LANGUAGES,
            "kernel_config": kernel.config,
        }

    from core.web.views import bp

    app.register_blueprint(bp)


def navigation(kernel: Any) -> list[Any]:
    """The navigation for the current user, built once per request from ``nav_items``."""
    if "nav_items" not in g:
        items = kernel.plugins.call_slot("nav_items", user=current_user)
        from core.identity.admin_views import admin_nav  # core's account and log pages
        from core.registry.views import registry_nav  # residents, import, dashboard …

        items = [*items, *admin_nav(current_user), *registry_nav(current_user)]
        g.nav_items = sorted(items, key=lambda i: i.order)
    return g.nav_items
