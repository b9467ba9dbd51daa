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
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint, refuse
from core.api.fields import (
    AUTH,
    LINE,
    LINE_CONTROL_CHARS,
    OPT_LINE,
    OPT_TEXT,
    TEXT,
    Id,
    JsonBoolean,
    Pattern,
    Strict,
    Text,
)
from core.api.pagination import PageArgs, page_schema, paginate
from core.audit.services import log_access, log_audit
from core.audit.web import request_facts
from core.calendar import Calendar
from core.cli import AppContext, pass_ctx
from core.current import current_kernel, kernel_of
from core.db import Base, UTCDateTime, current_session, local_today, local_zone, utcnow
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
from core.identity.limits import throttle_wait
from core.identity.notifications import Bilingual, Message, notify
from core.identity.services import scope_allows
from core.jobs import Job
from core.migrations.runner import run as run_migrations
from core.registry import codes as _codes
from core.registry.dashboard import Row, bar_chart
from core.registry.errors import RegistryError, ScopeError
from core.registry.present import (
    REVEAL_PERMISSION,
    mask_address,
    mask_id_number,
    mask_name,
    mask_phone,
)
from core.registry.reader import RegistryReader
from core.registry.search import SearchPage, format_total
from core.registry.validation import IdentifierError, parse_credit_code, uscc_check_char
from core.rules import MAX_ID, N_, RuleError
from core.version import CORE_API_VERSION
from core.web.forms import Length
from core.web.hotline import Hotline, hotline_for
from core.web.i18n import localized, recipient_locale

__all__ = [
    "AUTH",
    "CORE_API_VERSION",
    "LINE",
    "LINE_CONTROL_CHARS",
    "MAX_ID",
    "N_",
    "OPT_LINE",
    "OPT_TEXT",
    "TEXT",
    "AccountView",
    "ApiBlueprint",
    "AppContext",
    "Base",
    "Bilingual",
    "Calendar",
    "DemoContext",
    "Event",
    "EventBus",
    "EventError",
    "Hotline",
    "Id",
    "IdentifierError",
    "Job",
    "JsonBoolean",
    "Length",
    "Message",
    "NavItem",
    "PageArgs",
    "Panel",
    "Pattern",
    "Permission",
    "PluginInfo",
    "RegistryError",
    "RegistryReader",
    "Row",
    "RuleError",
    "ScopeError",
    "SearchPage",
    "SearchResult",
    "Strict",
    "Text",
    "UTCDateTime",
    "account_view",
    "account_views",
    "accounts_for_person",
    "accounts_for_persons",
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
    "endpoint",
    "find_account",
    "find_person_ids",
    "format_total",
    "grant_demo_scope",
    "has_permission",
    "hookimpl",
    "hookspec",
    "hotline_for",
    "local_today",
    "local_zone",
    "localized",
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
    "recipient_locale",
    "refuse",
    "register_organisation",
    "registry_reader",
    "request_facts",
    "require",
    "require_login",
    "require_personal",
    "require_verified",
    "roles_granting",
    "run_migrations",
    "safe_row",
    "scope_allows",
    "staff_accounts",
    "throttle_wait",
    "uscc_check_char",
    "utcnow",
    "working_calendar",
]


# ----------------------------------------------------------------------------- kernel


def plugin_settings(plugin_id: str, app: Any = None) -> dict[str, Any]:
    """``[plugins.<id>]`` of the config, after the plugin's ``config_schema`` loaded it."""
    kernel = kernel_of(app) if app is not None else current_kernel()
    return kernel.plugins.settings(plugin_id)


def working_calendar(*extra: Mapping[str, Any], app: Any = None, kernel: Any = None) -> Calendar:
    """The deployment's working-day calendar (``[app] holidays`` / ``workdays``), with any
    ``extra`` settings dicts' own ``holidays``/``workdays`` added (a plugin's older list)."""
    from datetime import date

    if kernel is None:
        kernel = kernel_of(app) if app is not None else current_kernel()
    cal = Calendar(
        holidays=frozenset(date.fromisoformat(d) for d in kernel.config.app.get("holidays", ())),
        workdays=frozenset(date.fromisoformat(d) for d in kernel.config.app.get("workdays", ())),
    )
    for more in extra:
        cal = cal.merged((date.fromisoformat(d) for d in more.get("holidays", ())),
                         (date.fromisoformat(d) for d in more.get("workdays", ())))
    return cal


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


def accounts_for_persons(
    session: Session, person_ids: Iterable[int]
) -> dict[int, list[AccountView]]:
    """The accounts bound to each of many registry persons in one select,
    ``person_id → [AccountView]`` (persons without an account left out): how a plugin
    tells every eligible resident at once (a vote opening, an offer) without a query each."""
    wanted = sorted({int(p) for p in person_ids if p is not None})
    found: dict[int, list[AccountView]] = {}
    if not wanted:
        return found
    User = _user_model()
    for start in range(0, len(wanted), 500):  # keep each IN list within every database's limit
        chunk = wanted[start:start + 500]
        rows = session.scalars(select(User).where(User.person_id.in_(chunk)).order_by(User.id))
        for user in rows:
            found.setdefault(user.person_id, []).append(AccountView.of(user))
    return found


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


def roles_granting(permission: str, session: Session | None = None) -> list[str]:
    """The roles granting ``permission`` in the running app's permission matrix: the
    defaults of core and the plugins with the administrators' overrides applied. Why:
    whom to tell is whoever holds the power, not a role name baked into a plugin, so a
    role a deployment granted the permission to is followed. With ``session`` the
    overrides are read in it (a job); without, the request's cached matrix."""
    from core.identity.services import effective_roles, role_overrides

    kernel = current_kernel()
    roles = (effective_roles(kernel.roles, role_overrides(session)) if session is not None
             else kernel.roles_now())
    return sorted(role for role, granted in roles.items() if permission in granted)


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
                    enforce_place: bool = True, kernel: Any = None,
                    grant: Iterable[str] = ()) -> RegistryReader:
    """The scoped, logged reader for ``plugin_id``: its declared data scopes, the actor's
    place scope (unless the plugin's own rule grants access — a merchant and the customer
    who ordered — and says ``enforce_place=False``), and ``purpose``, which is what the
    person reads in their access log. ``actor=None`` is a system job.

    ``grant`` names fields (``"phone"``, ``"address"`` …) the plugin's own rule entitles
    this viewer to see in full for the step at hand, though the viewer does not hold
    ``registry.person.reveal``: the merchant holding a customer's open ticket needs their
    phone and address, the hotline operator calling a one-key caller back needs the phone.
    Only those fields, only within the plugin's data scopes, only when asked for with
    ``reveal=`` and a purpose, and logged in full under the real viewer like any reveal.
    Any other field still needs the permission."""
    kernel = kernel if kernel is not None else current_kernel()
    granted = frozenset(grant or ())
    if granted and actor is not None:
        reader = _GrantedReader.for_plugin(
            session, kernel, plugin_id, actor=_GrantedActor(actor), purpose=purpose,
            facts=request_facts(), enforce_place=enforce_place)
        return cast(_GrantedReader, reader)._granting(granted)
    return RegistryReader.for_plugin(
        session, kernel, plugin_id,
        actor=actor, purpose=purpose, facts=request_facts(), enforce_place=enforce_place)


class _GrantedActor:
    """The viewer as a granted reader sees it: their own attributes, plus the reveal
    permission that :class:`_GrantedReader` confines to the granted fields. ``actor`` is
    whom the access log names (the agent in the assisted channel, else the account)."""

    def __init__(self, actor: Any):
        self._wrapped = actor
        self.held = frozenset(getattr(actor, "permissions", None) or ())
        self.permissions = self.held | {REVEAL_PERMISSION}
        self.actor = getattr(actor, "actor", None) or actor

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.__dict__["_wrapped"], name)


class _GrantedReader(RegistryReader):
    """A reader whose reveals beyond the viewer's own permission are limited to the
    fields the plugin granted for this step (see :func:`registry_reader`)."""

    granted: frozenset[str] = frozenset()

    def _granting(self, granted: frozenset[str]) -> _GrantedReader:
        self.granted = granted
        return self

    def _confine(self, person_ids: Iterable[int], reveal: Iterable[str]) -> None:
        extra = set(reveal) - self.granted
        if not extra or REVEAL_PERMISSION in self.actor.held:
            return
        own = getattr(self.actor, "person_id", None)
        if any(pid != own for pid in person_ids) or own is None:
            raise ScopeError(f"revealing {', '.join(sorted(extra))} needs {REVEAL_PERMISSION}")

    def person(self, person_id: int, *, reveal: Iterable[str] = ()) -> dict[str, Any]:
        reveal = list(reveal)
        self._confine([person_id], reveal)
        return super().person(person_id, reveal=reveal)

    def persons(self, ids: Iterable[int], *, reveal: Iterable[str] = ()) -> list[dict[str, Any]]:
        ids, reveal = list(ids), list(reveal)
        self._confine(ids, reveal)
        return super().persons(ids, reveal=reveal)

    def search(self, query: str = "", *, reveal: Iterable[str] = (), **criteria: Any
               ) -> SearchPage:
        reveal = list(reveal)
        self._confine([-1], reveal)  # a search may find anyone: no own-data exception
        return super().search(query, reveal=reveal, **criteria)


def find_person_ids(session: Session, plugin_id: str, *, actor: Any = None,
                    community: str | None = None, age_min: int | None = None,
                    age_max: int | None = None, sex: str | None = None,
                    hukou_type: str | None = None, status: str | None = "active",
                    limit: int | None = None, offset: int = 0,
                    kernel: Any = None) -> tuple[list[int], int]:
    """``(ids, total)``: the ids of the registry persons matching the criteria within the
    actor's place scope (``actor=None``: a system job, every place), ordered by id, from
    ``offset`` at most ``limit`` of them (``limit=0``: just the count), and how many match.

    Why ids only: a plugin's counts ("how many residents are 80 or over") and its lists
    select people without showing anyone, so nothing is written to anyone's access log;
    the page it then shows is read through :func:`registry_reader` (``.persons(ids)``),
    which logs exactly the persons shown. Criteria on age or sex need the plugin's
    ``registry.person.identity`` scope, every call ``registry.person.basic``."""

    from core.registry.models import Community, Person
    from core.registry.search import _years_ago, place_filter

    kernel = kernel if kernel is not None else current_kernel()
    declared = set(kernel.plugins.info(plugin_id).data_scopes) if plugin_id != "core" else None
    needed = {"registry.person.basic"}
    if age_min is not None or age_max is not None or sex:
        needed.add("registry.person.identity")
    if declared is not None and needed - declared:
        raise ScopeError(f"plugin {plugin_id} did not declare the data scope(s) "
                         f"{', '.join(sorted(needed - declared))}")
    where: list[Any] = []
    staff = place_filter(session, actor)
    if staff is not None:
        where.append(staff)
    if status:
        where.append(Person.status == status)
    if hukou_type:
        where.append(Person.hukou_type == hukou_type)
    if sex:
        where.append(Person.sex == sex)
    if community:
        where.append(Person.community_id.in_(
            select(Community.id).where(Community.code == community)))
    today = local_today()
    if age_min is not None:
        where.append(Person.birth_date <= _years_ago(today, age_min))
    if age_max is not None:
        where.append(Person.birth_date > _years_ago(today, age_max + 1))
    total = session.scalar(select(func.count()).select_from(Person).where(*where)) or 0
    if limit == 0:
        return [], total
    query = select(Person.id).where(*where).order_by(Person.id).offset(max(0, offset))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query)), total


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
    if getattr(actor, "person_id", None) == person_id and not getattr(actor, "agent", None):
        return  # one's own data, shown to oneself (an assisted session is never "own")
    actor = getattr(actor, "actor", None) or actor  # who really looked: the agent, if any
    log_access(session, actor=actor, person_id=person_id, fields=list(fields),
               purpose=purpose, via=plugin, masked=masked,
               facts=facts if facts is not None else request_facts())
