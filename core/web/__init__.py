"""The web shell: layout, navigation, language, security headers, CSRF, error pages.

Pages are server-rendered and work without JavaScript; every asset is served from
``/static`` (deployments may be offline), and the CSP forbids inline scripts.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from flask import Flask, g, has_request_context, request
from flask_babel import Babel, get_locale
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect
from markupsafe import Markup, escape

from core.current import current_kernel
from core.web import filters, security
from core.web.hotline import hotline_line, tel_link, template_hotline
from core.web.i18n import (
    LANGUAGES,
    catalogue_domain,
    localized_field,
    select_locale,
    translation_directories,
    use_plugin_domain,
)
from core.web.shell import (
    install_csrf_token,
    install_template_gettext,
    nav_sections,
    shell_urls,
)

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
    app.before_request(lambda: use_plugin_domain(kernel))  # a plugin's pages: its words
    # notifications are rendered when read, each with its own catalogue (identity is below us)
    kernel.state("core.notifications")["domain_for"] = lambda n: catalogue_domain(kernel, n)

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

    install_template_gettext(app)  # the templates' _(): the request's catalogue, found once
    install_csrf_token(app)  # csrf_token(): the request's token once it is made
    security.init_app(app, kernel)
    filters.init_app(app)  # |total and the other app-wide Jinja filters
    app.jinja_env.globals["slot"] = render_slot
    app.jinja_env.globals["localized"] = localized_field  # {{ localized(item, "label") }}
    app.jinja_env.globals["hotline"] = template_hotline  # {{ hotline() }}: a tel: link
    app.jinja_env.globals["tel_link"] = tel_link  # {{ tel_link(phone) }}: one tap to call
    app.jinja_env.globals["hotline_line"] = hotline_line  # "Community service hotline: …"

    @app.context_processor
    def _shell() -> dict[str, Any]:
        nav = navigation(kernel)
        locale = str(get_locale())
        nav_main, nav_staff = nav_sections(nav, locale)
        return {
            "nav": nav,
            "nav_main": nav_main,  # the main menu and the home page's service cards
            "nav_staff": nav_staff,  # the staff menu (before core's admin links)
            "locale": locale,
            "languages": LANGUAGES,
            "kernel_config": kernel.config,
            "shell_urls": shell_urls(),  # the layout's links, built once per mount point
        }

    memoize_template_context(app)

    from core.web.views import bp

    app.register_blueprint(bp)


def memoize_template_context(app: Flask) -> None:
    """Run the context processors once per request, however many templates it renders.

    Flask runs every context processor again for each ``render_template``: a home page
    renders itself and a fragment per dashboard widget, and each pass rebuilt the
    navigation lookup, the account's badge context and Flask-Login's user — about a
    quarter of the page (docs/performance.md, ``page_resident_home``). What the processors
    return depends on the request (the user, the locale, the blueprint), not on the
    template, so the first render's values serve the rest. The values a caller passes win
    over them, as in Flask."""
    compute = app.update_template_context

    def update_template_context(context: dict[str, Any]) -> None:
        if not has_request_context():
            compute(context)
            return
        base = g.get("_shequ_template_context")
        if base is None:
            base = {}
            compute(base)
            g._shequ_template_context = base
        own = dict(context)
        context.update(base)
        context.update(own)

    app.update_template_context = update_template_context  # type: ignore[method-assign]  # Flask has no hook for this


def navigation(kernel: Any) -> list[Any]:
    """The navigation for the current user, built once per request from ``nav_items``."""
    if "nav_items" not in g:
        # The account itself: every plugin asks it several permission questions, and each
        # attribute of werkzeug's proxy is a context lookup (~80 per page before).
        user = current_user._get_current_object()
        items = kernel.plugins.call_slot("nav_items", user=user)
        from core.identity.admin_views import admin_nav  # core's account and log pages
        from core.notices.views import notices_nav  # notices to many residents
        from core.registry.views import registry_nav  # residents, import, dashboard …

        items = [*items, *admin_nav(user), *registry_nav(user), *notices_nav(user)]
        g.nav_items = sorted(items, key=lambda i: i.order)
    return g.nav_items


#: The named template slots of core's and the built-in plugins' pages, with what their
#: ``context`` holds besides ``user`` (the current user, on every slot). docs/hooks.md
#: documents each; a test checks that every ``slot(...)`` call in a template is listed here
#: and there. Names are ``<area>.<page>.<place>``.
SLOTS: dict[str, tuple[str, ...]] = {
    "home.after_services": (),
    "registry.person.after_details": ("person_id", "community", "status"),
    "gov_services.application.after_details": ("application_id", "service_code", "state"),
    "commerce.ticket.after_details": ("ticket_id", "category", "state"),
    "commerce.console.after_caller": ("person_id", "community"),
}


def render_slot(name: str, **context: object) -> Markup:
    """``{{ slot("home.after_services") }}`` in a template: the markup every enabled
    plugin's ``template_slot(name, context)`` returns for it, in plugin order, wrapped in
    ``<div class="slot" data-slot="...">`` (nothing at all when no plugin fills it).

    Isolated like the other UI slots (``PluginHost.call_slot``): a plugin that raises is
    logged and skipped, and the page renders without it. ``context`` is read-only and
    holds ids and states, never personal data: a plugin that shows a person reads them
    through its registry reader (which checks its scopes and writes the access log)."""
    kernel = current_kernel()
    ctx = MappingProxyType({"user": current_user, **context})
    parts = kernel.plugins.call_slot("template_slot", name=name, context=ctx)
    html = "".join(str(p) for p in parts if isinstance(p, str) and p)
    if not html:
        return Markup("")
    # Plugin markup is inserted as is, like Panel.html: the plugin rendered (and escaped) it.
    return Markup('<div class="slot" data-slot="{}">{}</div>').format(
        escape(name), Markup(html))  # noqa: S704
