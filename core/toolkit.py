"""The plugin toolkit: everything a plugin may use from core, in one module.

Plugins import from here, from :mod:`core.hookspecs` (the hooks and the manifest types)
and, in their tests, from :mod:`core.testing`. Nothing else in core is public: a test
(``tests/core/test_boundary.py``) walks the imports of ``plugins/`` and
``docs/example_plugin/`` and fails on any other ``core.*`` import, deferred ones included.

Why one module (CKAN's ``plugins.toolkit``, Datasette's documented internals): the plugin
contract is what ``CORE_API_VERSION`` versions, so it has to be a list someone can read.
Core may move its insides freely; a name here changes only with the contract — added in a
minor version, removed in a major one. Every name is documented in ``docs/toolkit.md``
with its signature; a test keeps that page and ``__all__`` in step.

Personal data: plugins keep a person's id, never copies of names, numbers, phones or
addresses, and read those through :func:`registry_reader`, which checks the plugin's
declared data scopes and the viewer's place scope and writes the person's access log.
Data a plugin must hold itself (a caller who is not in the registry) is shown through
:func:`mask_phone` & co. and every display is logged with :func:`log_person_access`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.api.fields import JsonBoolean
from core.api.pagination import PageArgs, page_schema, paginate
from core.audit.services import log_access, log_audit
from core.audit.web import request_facts
from core.cli import AppContext, pass_ctx
from core.db import Base, UTCDateTime, current_session, utcnow
from core.events import Event, EventBus, EventError
from core.exports import csv_safe, csv_writer, safe_row
from core.hookspecs import (
    DemoContext,
    NavItem,
    Panel,
    Permission,
    PluginInfo,
    SearchResult,
    hookimpl,
    hookspec,
)
from core.identity import (
    can_access,
    check_access,
    current_principal,
    has_permission,
    require,
    require_login,
    require_personal,
    require_verified,
)
from core.identity.notifications import notify
from core.jobs import Job
from core.migrations.runner import run as run_migrations
from core.registry import codes as _codes
from core.registry.dashboard import Row, bar_chart
from core.registry.errors import RegistryError, ScopeError
from core.registry.present import mask_address, mask_id_number, mask_name, mask_phone
from core.registry.reader import RegistryReader
from core.registry.search import SearchPage
from core.registry.validation import IdentifierError, parse_credit_code, uscc_check_char
from core.version import CORE_API_VERSION

__all__ = [
    "CORE_API_VERSION",
    "AccountView",
    "AppContext",
    "Base",
    "DemoContext",
    "Event",
    "EventBus",
    "EventError",
    "IdentifierError",
    "Job",
    "JsonBoolean",
    "NavItem",
    "PageArgs",
    "Panel",
    "Permission",
    "PluginInfo",
    "RegistryError",
    "RegistryReader",
    "Row",
    "ScopeError",
    "SearchPage",
    "SearchResult",
    "UTCDateTime",
    "account_view",
    "account_views",
    "accounts_for_person",
    "acts_for",
    "bar_chart",
    "can_access",
    "check_access",
    "code_label",
    "csv_safe",
    "csv_writer",
    "current_kernel",
    "current_principal",
    "current_session",
    "derive_key",
    "find_account",
    "grant_demo_scope",
    "has_permission",
    "hookimpl",
    "hookspec",
    "log_audit",
    "log_person_access",
    "mask_address",
    "mask_id_number",
    "mask_name",
    "mask_phone",
    "notify",
    "page_schema",
    "paginate",
    "parse_credit_code",
    "pass_ctx",
    "plugin_settings",
    "register_organisation",
    "registry_reader",
    "request_facts",
    "require",
    "require_login",
    "require_personal",
    "require_verified",
    "run_migrations",
    "safe_row",
    "scope_allows",
    "staff_accounts",
    "uscc_check_char",
    "utcnow",
]


# ----------------------------------------------------------------------------- kernel


def current_kernel() -> Any:
    """The :class:`core.app.Kernel` of the current app: ``config``, ``db`` (with
    ``session_scope()``), ``plugins`` (the host: ``settings(id)``, ``info(id)``), ``bus``,
    ``permissions``, ``roles``, ``jobs``, and ``state(plugin_id)`` for a plugin's own
    per-app objects (never module globals: tests build many apps in one process)."""
    return current_app.extensions["shequ"]


def plugin_settings(plugin_id: str, app: Any = None) -> dict[str, Any]:
    """``[plugins.<id>]`` of the config, after the plugin's ``config_schema`` loaded it."""
    kernel = app.extensions["shequ"] if app is not None else current_kernel()
    return kernel.plugins.settings(plugin_id)


# ----------------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class AccountView:
    """What a plugin may know of an account: enough to address, route and greet someone,
    never their contact details (those live in the registry and are read through the
    reader). ``person_id`` links the account to its registry person (``None`` until the
    resident is verified); ``locale`` is the language to write to them in."""

    id: int
    username: str
    display_name: str
    kind: str  # "resident" | "staff" | "merchant" ... as core records it
    roles: tuple[str, ...]
    person_id: int | None
    locale: str
    is_active: bool
    is_verified: bool
    scopes: tuple[tuple[str, str], ...]

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @classmethod
    def of(cls, user: Any) -> AccountView:
        scopes = tuple(sorted((s.kind, s.code) for s in (getattr(user, "scopes", None) or ())))
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name or "",
            kind=user.kind,
            roles=tuple(getattr(user, "role_names", ()) or ()),
            person_id=user.person_id,
            locale=user.locale or "",
            is_active=bool(user.is_active),
            is_verified=bool(user.person_id is not None and user.verified_at is not None),
            scopes=scopes,
        )


def _user_model() -> Any:
    from core.identity.models import User

    return User


def account_view(session: Session, user_id: int | None) -> AccountView | None:
    """One account by id, or ``None``."""
    if user_id is None:
        return None
    user = session.get(_user_model(), user_id)
    return None if user is None else AccountView.of(user)


def account_views(session: Session, ids: Iterable[int | None]) -> dict[int, AccountView]:
    """Several accounts by id in one select, ``id → AccountView`` (unknown ids left out):
    the authors of a page of posts, without a query per post."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    User = _user_model()
    rows = session.scalars(select(User).where(User.id.in_(wanted)))
    return {u.id: AccountView.of(u) for u in rows}


def accounts_for_person(session: Session, person_id: int) -> list[AccountView]:
    """The accounts bound to a registry person (at most one today): how a subscriber to a
    ``registry.person.*`` event finds whom to notify."""
    User = _user_model()
    rows = session.scalars(select(User).where(User.person_id == person_id).order_by(User.id))
    return [AccountView.of(u) for u in rows]


def find_account(session: Session, username: str) -> AccountView | None:
    """An account by its username, matched exactly but for case (never as a pattern)."""
    User = _user_model()
    wanted = (username or "").strip().lower()
    if not wanted:
        return None
    user = session.scalar(select(User).where(func.lower(User.username) == wanted))
    return None if user is None else AccountView.of(user)


def staff_accounts(session: Session, roles: Iterable[str], *, community: str | None = None,
                   active: bool = True) -> list[AccountView]:
    """Staff holding any of ``roles`` (whom to assign or notify), optionally only those
    whose scope covers ``community``."""
    from core.identity.models import UserRole

    User = _user_model()
    query = (select(User).join(UserRole, UserRole.user_id == User.id)
             .where(UserRole.role.in_(list(roles))).distinct().order_by(User.id))
    if active:
        query = query.where(User.is_active.is_(True))
    out = [AccountView.of(u) for u in session.scalars(query)]
    if community is not None:
        out = [a for a in out if scope_allows(a, community=community)]
    return out


def _scope_pairs(user: Any) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for s in getattr(user, "scopes", None) or ():
        pairs.add(tuple(s) if isinstance(s, tuple) else (s.kind, s.code))  # type: ignore[arg-type]
    return pairs


def scope_allows(user: Any, *, community: str | None = None, grid: str | None = None) -> bool:
    """Whether a staff account's assignments cover this community or grid. Deny by
    default: an account with no assignment covers nothing."""
    pairs = _scope_pairs(user)
    if ("all", "") in pairs:
        return True
    if community and ("community", community) in pairs:
        return True
    return bool(grid and ("grid", grid) in pairs)


def acts_for(user: Any, community: str | None) -> bool:
    """Whether a staff member may act for ``community`` (committee business, a queue):
    only where an assignment says so — no assignment means no community."""
    return community is not None and scope_allows(user, community=community)


def grant_demo_scope(session: Session, demo: Any, role: str, community: str | None) -> bool:
    """For ``seed_demo_data`` only: give the demo account of ``role`` the demo community
    as its place assignment, when it has none. Why: scopes deny by default, so a demo
    committee member (say) without an assignment acts for no community at all. Returns
    whether an assignment was made; never widens an account that has one."""
    from core.identity.services import set_scopes

    users = getattr(demo, "users", None) or {}
    user = users.get(role)
    if user is None or not community or getattr(user, "scopes", None):
        return False
    set_scopes(session, user, [("community", community)], admin=users.get("admin") or user)
    session.flush()
    return True


# ----------------------------------------------------------------------------- keys


def derive_key(purpose: str, *, kernel: Any = None, length: int = 32) -> bytes:
    """A ``length``-byte key for ``purpose`` (name it ``"<plugin>.<what>:<id>"``), derived
    with HKDF-SHA256 (RFC 5869) from the app's secret key. The same in every worker and
    process of one deployment, never stored in the database, different for every purpose,
    and it changes when the secret key changes — so data sealed with it cannot be read
    from a copy of the database files alone (the secret ballot), and cannot be read at
    all after the secret is rotated."""
    import hashlib
    import hmac

    from core.config import ensure_secret_key

    if not purpose:
        raise ValueError("derive_key needs a purpose")
    if not 16 <= length <= 255 * 32:
        raise ValueError("derive_key length must be 16 to 8160 bytes")
    kernel = kernel if kernel is not None else current_kernel()
    secret = ensure_secret_key(kernel.config).encode("utf-8")
    prk = hmac.new(b"shequ.toolkit.derive_key", secret, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    info = purpose.encode("utf-8")
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


# ----------------------------------------------------------------------------- registry


def registry_reader(session: Session, plugin_id: str, *, actor: Any = None, purpose: str = "",
                    enforce_place: bool = True, kernel: Any = None) -> RegistryReader:
    """The scoped, logged reader for ``plugin_id``: its declared data scopes, the actor's
    place scope (unless the plugin's own rule grants access — a merchant and the customer
    who ordered — and says ``enforce_place=False``), and ``purpose``, which is what the
    person reads in their access log. ``actor=None`` is a system job."""
    return RegistryReader.for_plugin(
        session, kernel if kernel is not None else current_kernel(), plugin_id,
        actor=actor, purpose=purpose, facts=request_facts(), enforce_place=enforce_place)


def code_label(table: str, code: str | None, lang: str = "zh") -> str:
    """The label of a national code in ``lang`` (``"hukou"``, ``"sex"``, ``"status"``,
    ``"id_type"``, ``"residence_role"``, ``"dwelling_use"``, ``"household_kind"``);
    empty for an unknown code."""
    tables = {
        "hukou": _codes.HUKOU_TYPES,
        "sex": _codes.SEXES,
        "status": _codes.STATUSES,
        "id_type": _codes.ID_TYPES,
        "residence_role": _codes.RESIDENCE_ROLES,
        "dwelling_use": _codes.DWELLING_USES,
        "household_kind": _codes.HOUSEHOLD_KINDS,
    }
    return _codes.label(tables[table], code, lang)


def register_organisation(session: Session, data: Mapping[str, Any], *, actor: Any = None,
                          via: str = "core", bus: Any = None) -> Any:
    """Register an organisation in the registry, keyed by its unified social credit code
    (a merchant joining the hotline is a legal person first): the code is validated, the
    change logged and ``registry.organisation.registered`` published. Returns its id and
    fields as the reader shows them."""
    from core.registry.services import register_organisation as _register

    org = _register(session, data, bus=bus if bus is not None else current_kernel().bus,
                    actor=actor, via=via)
    session.flush()
    return org


# ----------------------------------------------------------------------------- access log


def log_person_access(
    session: Session,
    *,
    person_id: int,
    fields: Iterable[str],
    purpose: str,
    plugin: str,
    actor: Any = None,
    masked: bool = True,
    facts: Mapping[str, Any] | None = None,
) -> None:
    """Write that ``actor`` (default: the current principal; in the assisted channel the
    agent) was shown ``fields`` of person ``person_id`` — ``masked`` or in full — through
    ``plugin`` for ``purpose``. Use it for data the plugin holds itself (a caller's phone);
    reads through :func:`registry_reader` are logged by the reader. Identical entries on
    one day are one row with a count, so calling it on every display is intended."""
    if actor is None:
        actor = current_principal()
    actor = getattr(actor, "actor", None) or actor
    if getattr(actor, "person_id", None) == person_id and not getattr(actor, "agent", None):
        return  # one's own data, shown to oneself
    log_access(session, actor=actor, person_id=person_id, fields=list(fields),
               purpose=purpose, via=plugin, masked=masked,
               facts=facts if facts is not None else request_facts())
