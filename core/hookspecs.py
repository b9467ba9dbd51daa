"""The whole plugin contract: what a plugin declares (:class:`PluginInfo`) and the hooks it
may implement.

Every hook takes keyword arguments only (pluggy calls them by name), so a plugin may accept
just the arguments it needs, and a later minor version may add arguments without breaking
anyone. docs/hooks.md documents each hook with the exact signature below; a test keeps the
two in step.

Two kinds of hooks, with different failure rules:

* **Start-up and transactional hooks** (``shequ_startup``, ``register_*``, ``default_roles``,
  ``seed_demo_data``) fail fast: an exception stops start-up or rolls the transaction back,
  because a half-registered plugin is worse than none.
* **UI-slot hooks** (``nav_items``, ``resident_profile_panels``, ``dashboard_widgets``,
  ``search``) are called through :meth:`core.plugins.PluginHost.call_slot`: one raising plugin
  is logged and skipped, so a page never fails because one plugin did.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from core.version import CORE_API_VERSION

if TYPE_CHECKING:
    import click
    import flask
    import flask_smorest
    from marshmallow import Schema
    from sqlalchemy.orm import Session

    #: ``core.events.EventBus``, named but not imported: the contract is core's lowest
    #: layer and imports nothing of core but the version (tests/core/test_layering.py).
    EventBus = Any

PROJECT = "shequ"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

PLUGIN_ID_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
#: Ids a plugin may not take: they are core's URL areas and table prefixes.
RESERVED_IDS = frozenset(
    {
        "core",
        "identity",
        "registry",
        "events",
        "audit",
        "api",
        "admin",
        "static",
        "account",
        "auth",
        "healthz",
        "web",
        "exchange",
        "lang",
    }
)


@dataclass(frozen=True)
class PluginInfo:
    """A plugin's manifest: read before any of its code runs, so the kernel can refuse an
    incompatible or misconfigured plugin with a clear message instead of a traceback.

    ``requires_core`` is a PEP 440 specifier checked against ``CORE_API_VERSION``;
    ``depends`` lists plugin ids that must be enabled (and are registered first);
    ``data_scopes`` are the registry scopes (see ``core.registry.scopes``) the plugin reads;
    ``config_schema`` is a marshmallow schema class for ``[plugins.<id>]``.
    """

    id: str
    version: str
    title: str
    description: str = ""
    title_zh: str = ""
    requires_core: str = ">=1.0,<2"
    depends: tuple[str, ...] = ()
    data_scopes: tuple[str, ...] = ()
    config_schema: type[Schema] | None = None
    #: A module or class of ``@hookspec`` functions this plugin declares for others to
    #: implement (e.g. gov_services' service types). Added before any plugin registers.
    hookspecs: Any = None

    @property
    def area(self) -> str:
        """The plugin's URL area: ``gov_services`` → ``gov-services``."""
        return self.id.replace("_", "-")


@dataclass(frozen=True)
class Permission:
    """A dotted permission such as ``gov_services.application.approve``. The first segment
    is the declaring area (a plugin id, or a core area), which keeps names collision-free."""

    name: str
    description: str
    description_zh: str = ""


@dataclass(frozen=True)
class NavItem:
    """A link in the site navigation. ``order`` sorts the bar; ties keep plugin order."""

    label: str
    url: str
    order: int = 100
    label_zh: str = ""
    icon: str = ""
    section: str = "main"  # main | staff | admin


@dataclass(frozen=True)
class Panel:
    """A block another page embeds (a resident's profile, the dashboard). ``html`` must be
    markup the plugin rendered itself (already escaped), typically ``render_template(...)``.
    Panels are shown by ``order``; on the home page an order below 10 puts the panel
    above the list of services (urgent things only: the elderly's one-key call)."""

    title: str
    html: str
    order: int = 100


@dataclass(frozen=True)
class SearchResult:
    title: str
    url: str
    kind: str
    snippet: str = ""
    score: float = 0.0


@dataclass
class DemoContext:
    """What the demo seeder has created so far, shared with every plugin's
    ``seed_demo_data``. Plugins add what they create under ``extra[plugin_id]``."""

    users: dict[str, Any] = field(default_factory=dict)
    community: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The event bus, so demo data can publish the events real data would.
    bus: Any = None


# --------------------------------------------------------------------------- start-up


@hookspec
def shequ_startup(app: flask.Flask) -> None:
    """Called once after every plugin is registered, blueprints included. Put one-time,
    per-process set-up here (caches, template filters); never create tables here."""


@hookspec
def register_blueprints(app: flask.Flask) -> list[flask.Blueprint]:
    """Return the plugin's page blueprints. Core mounts each under ``/<area>`` (the plugin id
    with dashes), so URLs follow one scheme; a blueprint's own ``url_prefix`` is ignored."""


@hookspec
def register_api(api: flask_smorest.Api) -> list[flask_smorest.Blueprint]:
    """Return the plugin's flask-smorest blueprints. Core mounts them under
    ``/api/v1/<area>`` and adds them to the OpenAPI document."""


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``shequ`` command line (``cli.add_command``)."""


@hookspec
def register_event_types(bus: EventBus) -> None:
    """Declare the events the plugin publishes: ``bus.declare(name, SchemaClass, doc)``.
    Publishing an undeclared name, or a payload its schema rejects, raises."""


@hookspec
def register_event_handlers(bus: EventBus) -> None:
    """Subscribe to events: ``bus.subscribe("registry.person.moved", handler)``. Each
    subscriber's delivery is tracked, retried and dead-lettered on its own."""


@hookspec
def register_jobs(app: flask.Flask) -> list[Any]:
    """Return periodic jobs (``core.jobs.Job(name, every, run, doc)``) that the event
    workers run on a clock: detection of silence, re-dispatch on timeout, daily offers,
    retention purges. Names start with the plugin id; jobs must be idempotent. ``app`` is
    there to read the plugin's settings (periods may be configurable)."""


# --------------------------------------------------------------------------- access


@hookspec
def register_permissions() -> list[Permission]:
    """Return the permissions the plugin defines. Names are ``<plugin id>.<thing>.<action>``
    in lowercase (``library.book.manage``), checked when the plugin loads."""


@hookspec
def default_roles() -> dict[str, list[str]]:
    """Return ``{role: [permission, ...]}``: the permissions each role gets by default.
    Roles are merged across plugins; admins may change the mapping afterwards."""


@hookspec(firstresult=True)
def send_message(channel: str, recipient: str, subject: str, body: str) -> bool | None:
    """Send one message through a gateway (an SMS provider, a mail server) — asked only
    for a medium configured ``[messaging] sms = "hook"`` / ``email = "hook"``; core's own
    channels (SMTP, Aliyun SMS, console) need no plugin. ``subject`` and ``body`` are in the
    recipient's language (a code message's body holds the code: never log it). Return True
    when this plugin sent it, None when it does not handle ``channel``; raise to have the
    event bus retry it later (the last attempt's error is shown on the admin messages
    page). The first plugin that returns True wins. core/identity/channels/aliyun.py is
    the example of what a gateway does (docs/hooks.md)."""


# --------------------------------------------------------------------------- UI slots


@hookspec
def nav_items(user: Any) -> list[NavItem]:
    """Return the links this plugin adds to the navigation for ``user`` (anonymous users
    included: check ``user.is_authenticated``). UI slot: failures are isolated."""


@hookspec
def resident_profile_panels(resident: Any, viewer: Any) -> list[Panel]:
    """Return panels for a resident's profile page as seen by ``viewer``. UI slot."""


@hookspec
def dashboard_widgets(user: Any) -> list[Panel]:
    """Return widgets for the staff dashboard of ``user``. UI slot."""


@hookspec
def search(query: str, user: Any) -> list[SearchResult]:
    """Return matches for the site-wide search box, only what ``user`` may see. UI slot."""


@hookspec
def template_slot(name: str, context: Mapping[str, Any]) -> str | None:
    """Return markup for the named slot of a page (``home.after_services``,
    ``registry.person.after_details`` … — the slots and their ``context`` are listed in
    docs/hooks.md), or None to add nothing. Check ``name`` first: every slot on every page
    calls every implementation. UI slot: failures are isolated."""


# --------------------------------------------------------------------------- data


@hookspec
def seed_demo_data(session: Session, demo: DemoContext) -> None:
    """Create the plugin's demo data in ``session`` (committed by the caller). ``demo`` holds
    what core and earlier plugins made: demo users by role, the demo community."""


#: Hooks whose implementations are isolated per plugin (see module docstring).
UI_SLOT_HOOKS = (
    "nav_items", "resident_profile_panels", "dashboard_widgets", "search", "template_slot",
)

__all__ = [
    "CORE_API_VERSION",
    "RESERVED_IDS",
    "UI_SLOT_HOOKS",
    "DemoContext",
    "NavItem",
    "Panel",
    "Permission",
    "PluginInfo",
    "SearchResult",
    "hookimpl",
    "hookspec",
]
