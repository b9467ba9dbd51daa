"""Core pages: home, language switch, admin overview of plugins."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from core.identity import require
from core.identity.views import safe_next
from core.web.i18n import LANG_COOKIE, LANGUAGES

bp = Blueprint("web", __name__)


@bp.route("/")
def home():
    kernel = current_app.extensions["shequ"]
    widgets = kernel.plugins.call_slot("dashboard_widgets", user=current_user)
    return render_template("home.html", widgets=widgets)


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code: str):
    target = safe_next(request.form.get("next") or request.referrer and _path(request.referrer))
    resp = redirect(target)
    if code in LANGUAGES:
        resp.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax",
                        httponly=True, secure=request.is_secure)
    return resp


def _path(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@bp.route("/admin/plugins")
@require("core.plugins.read")
def admin_plugins():
    kernel = current_app.extensions["shequ"]
    return render_template("admin/plugins.html", rows=plugin_rows(kernel))


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
    spec = current_app.extensions["shequ"].api.spec.to_dict()
    operations = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                operations.append({"method": method.upper(), "path": path, **op})
    return render_template("api_docs.html", spec=spec, operations=operations)
