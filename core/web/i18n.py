"""Language selection and translation catalogues (core's and each plugin's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import current_app, request
from flask_babel import Domain
from flask_login import current_user

LANGUAGES = {"zh": "中文", "en": "English"}
LANG_COOKIE = "shequ_lang"
CORE_TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def translation_directories(kernel: Any) -> list[str]:
    """Every enabled plugin's ``translations/``, then core's: Flask-Babel merges them in
    this order and a later catalogue wins a message both have. Core comes last so that a
    plugin translating a common word differently ("Search" as 搜索 rather than 查询) cannot
    change core's pages; the plugin's own pages then use core's word too."""
    dirs = []
    for record in kernel.plugins.loaded:
        file = getattr(record.module, "__file__", None)
        if file:
            path = Path(file).resolve().parent / "translations"
            if path.is_dir():
                dirs.append(str(path))
    return [*dirs, str(CORE_TRANSLATIONS)]


def plugin_translation_directories(kernel: Any, plugin_id: str) -> list[str]:
    """The catalogues for ``plugin_id``'s own pages and API: every plugin's, then its own,
    then core's (a later catalogue wins). All plugins share the ``messages`` domain, so in
    one merged catalogue the last plugin's word for "Escalated" or "Name" would be every
    plugin's; on its own pages a plugin's word wins over the others', and core's still wins
    over all (core's pages and common words stay the same everywhere)."""
    dirs = translation_directories(kernel)
    core_dir = dirs[-1]
    own = [d for d in dirs[:-1] if _owner_of(kernel, d) == plugin_id]
    others = [d for d in dirs[:-1] if d not in own]
    return [*others, *own, core_dir]


def _owner_of(kernel: Any, directory: str) -> str | None:
    for record in kernel.plugins.loaded:
        file = getattr(record.module, "__file__", None)
        if file and str(Path(file).resolve().parent / "translations") == directory:
            return str(record.info.id)
    return None


def use_plugin_domain(kernel: Any) -> None:
    """``before_request``: a request to a plugin's blueprint (page or API) translates with
    that plugin's catalogue first (:func:`plugin_translation_directories`). The domains are
    built once per app and plugin; Flask-Babel caches each one's merged catalogue."""
    owner = kernel.blueprint_owners.get(request.blueprint or "")
    if owner is None:
        return
    domains = kernel.state("core.i18n")
    domain = domains.get(owner)
    if domain is None:
        domain = domains[owner] = Domain(plugin_translation_directories(kernel, owner))
    domain.as_default()


def catalogue_domain(kernel: Any, name: str) -> Domain | None:
    """The domain a stored message of catalogue ``name`` is rendered with: core's own
    catalogue for ``"core"``, a loaded plugin's as its pages use it, None for a plugin
    that is not loaded (the notification then shows its stored text)."""
    domains = kernel.state("core.i18n")
    key = name if name != "core" else " core"  # never a plugin's id
    domain = domains.get(key)
    if domain is None:
        if name == "core":
            dirs = [str(CORE_TRANSLATIONS)]
        elif name in {str(r.info.id) for r in kernel.plugins.loaded}:
            dirs = plugin_translation_directories(kernel, name)
        else:
            return None
        domain = domains[key] = Domain(dirs)
    return domain


def select_locale() -> str:
    """The cookie set by the language switch, then the account's choice, then the
    deployment's default. Pages ignore ``Accept-Language`` on purpose: shared phones and
    English-configured browsers are common, and the default should be the local language.

    The API is read by programs, whose one standard way to ask for a language is the
    header: under ``/api/`` an ``Accept-Language`` naming zh or en comes first, so every
    area answers its error messages by one rule (docs/api.md, "Language")."""
    if request.path.startswith("/api/") and request.headers.get("Accept-Language"):
        best = request.accept_languages.best_match(list(LANGUAGES))
        if best:
            return best
    lang = request.cookies.get(LANG_COOKIE)
    if lang in LANGUAGES:
        return lang
    user_locale = getattr(current_user, "locale", None) if current_user else None
    if user_locale in LANGUAGES:
        return user_locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def account_locale(session: Any, user_id: int) -> str:
    """The language an account reads in: its own choice, else the deployment's default."""
    from core.identity.models import User

    user = session.get(User, user_id)
    chosen = user.locale if user is not None else None
    if chosen in LANGUAGES:
        return str(chosen)
    return str(current_app.config.get("BABEL_DEFAULT_LOCALE", "zh"))


@contextmanager
def recipient_locale(session: Any, user_id: int) -> Iterator[str]:
    """Translate in the language of the account a message is for, not of the user whose
    request caused it: a worker's English page must not write a resident's notification in
    English. ``with recipient_locale(session, uid): notify(..., title=_("..."))``."""
    from flask_babel import force_locale

    locale = account_locale(session, user_id)
    with force_locale(locale):
        yield locale


def _is_chinese(locale: object) -> bool:
    if locale is None:
        from flask import has_request_context
        from flask_babel import get_locale

        locale = get_locale() if has_request_context() else None
    if locale is None:
        return False
    return str(getattr(locale, "language", locale)).split("_")[0].split("-")[0] == "zh"


def localized(en: str | None, zh: str | None, locale: object = None) -> str:
    """The text of a label kept in both languages (a plugin's ``title``/``title_zh``, a
    permission's ``description``/``description_zh``) in the page's language.

    Why one function: the rule was written out by hand in many places and some got it
    wrong (a Chinese panel title on an English page). Chinese pages show ``zh`` when there
    is one, other pages ``en``; either falls back to the other when it is blank.
    ``locale`` defaults to the current request's (``flask_babel.get_locale``); outside a
    request the English text is used."""
    en, zh = en or "", zh or ""
    if _is_chinese(locale):
        return zh or en
    return en or zh


def localized_field(obj: Any, field: str, locale: object = None) -> str:
    """``localized(obj.<field>, obj.<field>_zh)`` for an object or a mapping: in templates
    ``{{ localized(info, "title") }}`` (a Jinja global)."""
    if isinstance(obj, dict):
        return localized(obj.get(field), obj.get(f"{field}_zh"), locale)
    return localized(getattr(obj, field, None), getattr(obj, f"{field}_zh", None), locale)


def catalogue_directories() -> list[Path]:
    """Every ``translations/`` directory shipped in this source tree: core's and each
    built-in plugin's."""
    plugins = CORE_TRANSLATIONS.parent.parent / "plugins"
    return [CORE_TRANSLATIONS, *sorted(p for p in plugins.glob("*/translations") if p.is_dir())]


def compile_catalogues(directories: list[Path] | None = None, *, force: bool = False) -> list[Path]:
    """Compile each ``<dir>/<locale>/LC_MESSAGES/messages.po`` whose ``.mo`` is missing or
    older than it (what ``make translations`` does). Returns the ``.mo`` files written."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for directory in directories or catalogue_directories():
        for po in sorted(Path(directory).glob("*/LC_MESSAGES/messages.po")):
            mo = po.with_suffix(".mo")
            if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
                continue
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=po.parent.parent.name)
            with mo.open("wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)
            written.append(mo)
    return written
