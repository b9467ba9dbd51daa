"""Core pages: home, language and elder-mode switches, admin overview of plugins."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from core.current import current_kernel
from core.identity import has_permission, require
from core.identity.views import safe_next
from core.web.i18n import LANG_COOKIE, LANGUAGES

bp = Blueprint("web", __name__)

#: The elder-mode (长辈模式) preference: larger type, bigger targets, fewer items.
ELDER_COOKIE = "shequ_elder"
PREF_MAX_AGE = 365 * 24 * 3600


#: Core's staff pages, linked from the staff menu for those who hold the permission.
#: ``(label, endpoint, permission)``; an endpoint that is not registered is skipped.
ADMIN_PAGES = (
    (_l("Plugins"), "web.admin_plugins", "core.plugins.read"),
    (_l("Events"), "events_admin.admin_events", "core.events.read"),
)


@bp.app_context_processor
def _preferences() -> dict[str, Any]:
    return {"elder_mode": request.cookies.get(ELDER_COOKIE) == "1", "admin_links": admin_links}


def admin_links() -> list[dict[str, Any]]:
    """The core staff pages the current user may open (called from the base template)."""
    links = []
    for label, endpoint, permission in ADMIN_PAGES:
        if endpoint in current_app.view_functions and has_permission(current_user, permission):
            links.append({"label": label, "url": url_for(endpoint),
                          "current": request.endpoint == endpoint})
    return links


@bp.route("/")
def home():
    kernel = current_kernel()
    user = current_user._get_current_object()  # the account itself, not a proxy per access
    widgets = sorted(kernel.plugins.call_slot("dashboard_widgets", user=user),
                     key=lambda w: w.order)
    # An urgent widget (order below 10, e.g. the elderly's one-key call) comes before the
    # list of services, where a phone shows it without scrolling.
    return render_template("home.html", first=[w for w in widgets if w.order < 10],
                           widgets=[w for w in widgets if w.order >= 10])


def _back() -> str:
    """Where a preference switch returns to: the form's ``next`` field, else the referring
    page, and only ever a path on this site (``safe_next``)."""
    target = request.form.get("next")
    if not target and request.referrer:
        target = _path(request.referrer)
    return safe_next(target)


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _set_pref(resp: Any, name: str, value: str) -> None:
    resp.set_cookie(name, value, max_age=PREF_MAX_AGE, samesite="Lax", httponly=True,
                    secure=request.is_secure)


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    resp = redirect(_back())
    if code in LANGUAGES:
        _set_pref(resp, LANG_COOKIE, code)
        _remember_language(code)
    return resp


def _remember_language(code: str) -> None:
    """A signed-in account keeps the language it chose, so what is written to it later —
    notifications, SMS, e-mail (``core.toolkit.recipient_locale``) — is in that language
    too, not only the pages this browser shows. Not in the assisted channel: the worker's
    choice of language is not the resident's."""
    if not getattr(current_user, "is_authenticated", False) or getattr(
            current_user, "assisted", False):
        return
    from core.db import current_session

    user = current_user.user
    if user is not None and user.locale != code:
        user.locale = code
        current_session().commit()


@bp.route("/prefs/elder", methods=["POST"])
def set_elder_mode():
    """The elder-mode switch: ``elder=on`` turns it on, anything else turns it off."""
    resp = redirect(_back())
    if request.form.get("elder") == "on":
        _set_pref(resp, ELDER_COOKIE, "1")
    else:
        resp.delete_cookie(ELDER_COOKIE, samesite="Lax", httponly=True,
                           secure=request.is_secure)
    return resp


@bp.route("/admin/plugins")
@require("core.plugins.read")
def admin_plugins():
    kernel = current_kernel()
    from core.metrics import backup_status  # the scheduled backup's last result

    backup = backup_status(kernel) if kernel.config.backup.get("enabled") else None
    return render_template("admin/plugins.html", rows=plugin_rows(kernel), backup=backup,
                           backup_enabled=kernel.config.backup.get("enabled"))


def plugin_rows(kernel) -> list[dict]:
    """Every enabled plugin with what it contributes: the admin page, ``shequ plugins list``
    and the API share this view of the plugin host."""
    host = kernel.plugins
    rows = []
    for pid, record in host.records.items():
        info = record.info
        perms = sorted(n for n in kernel.permissions if n.startswith(f"{pid}."))
        rows.append({
            "id": pid,
            "version": info.version if info else "",
            "title": info.title if info else pid,
            "title_zh": info.title_zh if info else "",
            "status": record.status,
            "error": record.error,
            "hooks": record.hooks,
            "permissions": perms,
            "data_scopes": list(info.data_scopes) if info else [],
            "depends": list(info.depends) if info else [],
        })
    return rows


@bp.route("/api/v1/docs")
def api_docs():
    """The API reference, rendered on the server from the OpenAPI document: no CDN, no
    script, so it works in an offline deployment."""
    spec = current_kernel().api.spec.to_dict()
    operations = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                operations.append({"method": method.upper(), "path": path, **op})
    return render_template("api_docs.html", spec=spec, operations=operations)
