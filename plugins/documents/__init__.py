"""Documents (证明文书): verifiable receipts, decision letters and certificates.

The plugin listens to gov_services' application events and issues one signed document per
application and kind: a 受理回执 when an application is accepted, a 决定书 (or a 证明 where
the service's template says so) when it is decided. Each document carries its canonical
statement and an Ed25519 signature; its PDF has a QR code to the public verification page
``/documents/verify/<code>``. Staff may revoke a document (with a reason); the resident is
told. See docs/plugins/documents.md.

Everything from core comes from ``core.toolkit`` and ``core.hookspecs``.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from core.hookspecs import NavItem, Permission, PluginInfo, hookimpl

DEFAULT_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"


ISO_DATE = validate.Regexp(r"^\d{4}-\d{2}-\d{2}$", error="A date: YYYY-MM-DD.")


class RetiredKey(Schema):
    """One key the deployment signed with before (``[[plugins.documents.retired_keys]]``):
    documents it signed still verify, and ``GET /api/v1/documents/keys`` lists it."""

    #: A PEM file with the old key: the private key (PKCS#8) or only its public key.
    file = fields.String(required=True, validate=validate.Length(1, 500))
    #: When it started and stopped signing (YYYY-MM-DD, as published; optional).
    valid_from = fields.String(load_default=None, allow_none=True, validate=ISO_DATE)
    retired_at = fields.String(load_default=None, allow_none=True, validate=ISO_DATE)


class DocumentsConfig(Schema):
    """``[plugins.documents]`` in the config file; validated at start-up."""

    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))
    #: The TrueType font (or collection) embedded in the PDFs: it must cover Chinese.
    font_path = fields.String(load_default=DEFAULT_FONT, validate=validate.Length(1, 500))
    #: The font's index inside a .ttc collection (WenQuanYi Micro Hei is 0).
    font_subfont_index = fields.Integer(load_default=0, validate=validate.Range(0, 31))
    #: A file holding the Ed25519 private key (PEM, PKCS#8), or "" to derive the key
    #: from the deployment's secret key (core.toolkit.derive_key("documents.signing")).
    key_file = fields.String(load_default="", validate=validate.Length(0, 500))
    #: Since when the current key signs (YYYY-MM-DD, published with the key; optional).
    key_valid_from = fields.String(load_default="", validate=validate.Regexp(
        r"^(\d{4}-\d{2}-\d{2})?$", error="A date: YYYY-MM-DD."))
    #: The keys signed with before a rotation: their documents still verify.
    retired_keys = fields.List(fields.Nested(RetiredKey), load_default=list)
    #: Verifications one client (IP address) may make per minute, pages and API together.
    verify_per_minute = fields.Integer(load_default=60, validate=validate.Range(1, 10000))
    #: The public address the QR code points to ("" = the address of the request, or
    #: http://localhost when a document is drawn outside one).
    public_url = fields.String(load_default="", validate=validate.Length(0, 200))


info = PluginInfo(
    id="documents",
    version="0.2.0",
    title="Documents",
    title_zh="证明文书",
    description="Verifiable receipts, decision letters and certificates for public services.",
    requires_core=">=1.1,<2",
    data_scopes=("registry.person.basic",),
    config_schema=DocumentsConfig,
)

#: Permission names are ``<id>.<thing>.<action>``, lowercase (checked at start-up).
OWN = "documents.own.read"
REVOKE = "documents.document.revoke"
#: Staff see an application's documents with gov_services' own read permission, within
#: their places: the documents are part of the case file.
GOV_READ = "gov_services.application.read"


@hookimpl
def register_blueprints(app: Any) -> list[Any]:
    from plugins.documents.views import bp

    return [bp]  # mounted at /documents/


@hookimpl
def register_api(api: Any) -> list[Any]:
    from plugins.documents.api import blp

    return [blp]  # mounted at /api/v1/documents/


@hookimpl
def register_event_handlers(bus: Any) -> None:
    from plugins.documents.services.issue import on_application_event

    for event in ("accepted", "approved", "rejected", "completed"):
        bus.subscribe(f"gov_services.application.{event}", on_application_event,
                      name=f"issue_on_{event}")


@hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(OWN, "See and download one's own documents", "查看和下载本人的证明文书"),
        Permission(REVOKE, "Revoke documents", "撤销证明文书"),
    ]


@hookimpl
def default_roles() -> dict[str, list[str]]:
    return {
        "resident": [OWN],
        "community_worker": [OWN, REVOKE],
        "street_officer": [OWN, REVOKE],
    }


@hookimpl
def shequ_startup(app: Any) -> None:
    """Check at start-up that the PDF font exists, so a missing font package is a clear
    start-up message and not a failure at the first download."""
    from plugins.documents.services.pdf import check_font

    check_font(app)


@hookimpl
def nav_items(user: Any) -> list[NavItem]:
    if not getattr(user, "is_authenticated", False) or not getattr(user, "person_id", None):
        return []
    return [NavItem(label="My documents", label_zh="我的证明文书", url="/documents/",
                    order=96)]


@hookimpl
def template_slot(name: str, context: Any) -> str | None:
    """The documents of an application on gov_services' application page (the resident's
    own, or staff with the read permission within their places)."""
    if name != "gov_services.application.after_details":
        return None
    from plugins.documents.views import application_slot

    return application_slot(context.get("application_id"))
