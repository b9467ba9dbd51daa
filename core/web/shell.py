"""What every page's layout asks for, resolved once instead of on every page.

``base.html`` is rendered on every page, and profiling the resident home page
(docs/performance.md, ``page_resident_home``) found that most of its cost was not the
markup but the calls inside it: each ``_()`` went through Flask-Babel's context lookups
(~10 µs, about 26 on a page), each ``url_for`` through the URL map (~4 µs, about 19), each
``csrf_token()`` through Flask-WTF's configuration lookups. What these return is the same
for every page of a language and a mount point, so:

* :func:`install_template_gettext`: the templates' ``_``/``gettext`` find the request's
  translations once per request (still following ``force_locale`` and a plugin's
  domain) and keep each translated constant message per catalogue;
* :func:`shell_urls`: the layout's links and static files, built with ``url_for`` once
  per ``SCRIPT_ROOT`` (the only part of a relative URL that can differ by request);
* :func:`install_csrf_token`: ``csrf_token()`` answers from the request's token once
  Flask-WTF has made it;
* :func:`nav_sections`: the menus split and their labels localized in Python, once per
  request, rather than by filters and a call per link in the templates.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, request, url_for
from flask_babel import get_translations
from jinja2 import pass_context
from markupsafe import Markup

from core.web.i18n import localized_field

#: ``key: (endpoint, values)`` for every URL ``base.html`` links to.
SHELL_ENDPOINTS: dict[str, tuple[str, dict[str, str]]] = {
    "css": ("static", {"filename": "shequ.css"}),
    "favicon": ("static", {"filename": "favicon.svg"}),
    "js": ("static", {"filename": "shequ.js"}),
    "home": ("web.home", {}),
    "lang_zh": ("web.set_language", {"code": "zh"}),
    "lang_en": ("web.set_language", {"code": "en"}),
    "elder": ("web.set_elder_mode", {}),
    "api_docs": ("web.api_docs", {}),
    "login": ("identity.login", {}),
    "logout": ("identity.logout", {}),
    "account": ("account.index", {}),
    "notifications": ("account.notifications", {}),
    "assist_stop": ("account.assist_stop", {}),
}


def shell_urls() -> dict[str, str]:
    """The layout's URLs for this request's mount point, built once per app and
    ``SCRIPT_ROOT``. The app has no ``url_defaults`` and the shell's links are relative, so
    nothing else of the request can change them; an endpoint that is not registered (an
    app without the account pages) is left out, and a template asking for it gets an empty
    link rather than a 500."""
    cache: dict[str, dict[str, str]] = current_app.extensions.setdefault("shequ.shell_urls", {})
    root = request.script_root
    urls = cache.get(root)
    if urls is None:
        urls = {}
        for key, (endpoint, values) in SHELL_ENDPOINTS.items():
            if endpoint in current_app.view_functions:
                urls[key] = url_for(endpoint, **values)
        cache[root] = urls
    return urls


class NavLink:
    """One link of the layout's menus, its label already in the page's language."""

    __slots__ = ("label", "url")

    def __init__(self, url: str, label: str) -> None:
        self.url = url
        self.label = label


def nav_sections(items: list[Any], locale: object) -> tuple[list[NavLink], list[NavLink]]:
    """The navigation split into the main menu (``section == "main"``, also the home
    page's service cards) and the staff menu, each label localized once: the templates
    did this with three ``selectattr``/``rejectattr`` passes and a ``localized()`` call
    per link and per card (~40 Jinja calls a page)."""
    main: list[NavLink] = []
    staff: list[NavLink] = []
    for item in items:
        link = NavLink(item.url, localized_field(item, "label", locale))
        (main if item.section == "main" else staff).append(link)
    return main, staff


def request_translations() -> Any:
    """The translations this request's templates use: Flask-Babel's
    ``get_translations()``, remembered on Flask-Babel's own per-request state next to
    the locale and domain it was found for. A ``force_locale`` block or a plugin's
    ``Domain.as_default()`` replaces one of those, so the next call sees the change and
    asks Flask-Babel again."""
    try:
        ctx = g._flask_babel
        locale, domain = ctx.babel_locale, ctx.babel_domain
    except (AttributeError, RuntimeError):  # not resolved yet in this request, or none
        return get_translations()
    held = ctx.__dict__.get("shequ_translations")
    if held is not None and held[0] is locale and held[1] is domain:
        return held[2]
    translations = get_translations()
    ctx.shequ_translations = (locale, domain, translations)
    return translations


def _constant(translations: Any, message: str) -> Markup:
    """``Markup(gettext(message)) % {}`` (what Jinja's newstyle gettext returns for a
    message without variables), kept per catalogue: a catalogue's words do not change
    while the process runs (Flask-Babel keeps each one for the life of the app)."""
    held = translations.__dict__.get("_shequ_markup")
    if held is None:
        held = translations._shequ_markup = {}
    try:
        return held[message]
    except KeyError:
        # The catalogue's text is trusted markup, as in Jinja's own newstyle gettext.
        value = held[message] = Markup(translations.ugettext(message)) % {}  # noqa: S704
        return value


@pass_context
def template_gettext(__context: Any, __string: str, **variables: Any) -> str:
    """Jinja's newstyle ``gettext`` (same results: escaped variables in an autoescaped
    template, ``%`` formatting always) over :func:`request_translations`."""
    translations = request_translations()
    if __context.eval_ctx.autoescape:
        if not variables:
            return _constant(translations, __string)
        return Markup(translations.ugettext(__string)) % variables  # noqa: S704
    return translations.ugettext(__string) % variables


def install_template_gettext(app: Flask) -> None:
    """Replace Flask-Babel's template ``_`` and ``gettext`` (installed by ``Babel(app)``)
    with :func:`template_gettext`; ``ngettext`` and the ``pgettext`` pair stay Flask-Babel's
    (rare on pages, and their results depend on the number)."""
    app.jinja_env.globals["gettext"] = template_gettext
    app.jinja_env.globals["_"] = template_gettext


def install_csrf_token(app: Flask) -> None:
    """``{{ csrf_token() }}``: Flask-WTF's ``generate_csrf`` the first time in a request
    (it makes the token and keeps it on ``g`` under the field name), then that token."""
    from flask_wtf.csrf import generate_csrf

    field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")

    def csrf_token() -> str:
        token = g.get(field)
        return token if token is not None else generate_csrf()

    app.jinja_env.globals["csrf_token"] = csrf_token
