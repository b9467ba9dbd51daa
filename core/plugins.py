"""Plugin discovery, enablement and dispatch.

Discovery and enablement are separate on purpose (CKAN's lesson, see docs/architecture.md):
installing a package only makes a plugin *available* through the ``shequ.plugins`` entry
point group; the ordered ``plugins.enabled`` list in config decides what runs. One
:class:`PluginHost` (and one pluggy manager) exists per app, never a module global, so tests
and several apps in one process stay isolated.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import pluggy
from marshmallow import RAISE, Schema, ValidationError
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from core import compat, hookspecs
from core.config import flatten_errors
from core.hookspecs import PLUGIN_ID_RE, RESERVED_IDS, PluginInfo
from core.version import CORE_API_VERSION

log = logging.getLogger("shequ.plugins")
ENTRY_POINT_GROUP = "shequ.plugins"


class PluginError(Exception):
    """Start-up must stop because of plugins; the message names each plugin and problem."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = ["Plugins could not be loaded:"]
        lines += [f"  - {pid}: {problem}" for pid, problem in problems]
        super().__init__("\n".join(lines))


@dataclass
class PluginRecord:
    """What the kernel knows about one enabled plugin, for ``shequ plugins list``, the admin
    page and ``/healthz``."""

    id: str
    status: str  # loaded | failed
    info: PluginInfo | None = None
    module: Any = None
    error: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    hooks: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def loaded(self) -> bool:
        return self.status == "loaded"


def discover() -> dict[str, Any]:
    """Installed plugins by id (entry point name); loading happens only when enabled."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _order(enabled: list[str], infos: Mapping[str, PluginInfo]) -> tuple[list[str], list]:
    """Dependencies first, ties broken by the order of ``plugins.enabled`` (stable Kahn).

    Returns the order and a list of ``(plugin, problem)`` for missing or cyclic dependencies.
    """
    problems: list[tuple[str, str]] = []
    pending = [pid for pid in enabled if pid in infos]
    for pid in pending:
        for dep in infos[pid].depends:
            if dep not in infos:
                why = "is not enabled" if dep not in enabled else "failed to load"
                problems.append((pid, f"depends on '{dep}', which {why}"))
    broken = {pid for pid, _ in problems}
    # A plugin whose dependency is broken is broken too, transitively.
    changed = True
    while changed:
        changed = False
        for pid in pending:
            if pid not in broken and any(d in broken for d in infos[pid].depends):
                broken.add(pid)
                bad = [d for d in infos[pid].depends if d in broken]
                problems.append((pid, f"depends on '{bad[0]}', which cannot be loaded"))
                changed = True
    ordered: list[str] = []
    visiting: list[str] = []

    def visit(pid: str) -> None:
        # Depth-first: a plugin's dependencies go just before it, so the result keeps the
        # configured order wherever the dependencies allow.
        if pid in ordered:
            return
        if pid in visiting:
            cycle = [*visiting[visiting.index(pid) :], pid]
            raise _Cycle(cycle)
        visiting.append(pid)
        for dep in infos[pid].depends:
            visit(dep)
        visiting.pop()
        ordered.append(pid)

    for pid in pending:
        if pid in broken:
            continue
        try:
            visit(pid)
        except _Cycle as cyc:
            for member in dict.fromkeys(cyc.path):
                if member not in broken:
                    broken.add(member)
                    problems.append((member, f"dependency cycle: {' -> '.join(cyc.path)}"))
            visiting.clear()
    return [p for p in ordered if p not in broken], problems


class _Cycle(Exception):
    def __init__(self, path: list[str]):
        self.path = path


#: ``<id>.<thing>.<action>``, lowercase: ``library.book.manage``.
PERMISSION_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def _where(obj: Any, source: str = "") -> str:
    """Where an imported plugin object came from, for error messages: its module name and
    file, or — the usual surprise — that it is a namespace package (a folder without
    ``__init__.py``, typically the project folder of the same name on ``sys.path``,
    shadowing the installed package)."""
    name = getattr(obj, "__name__", type(obj).__name__)
    file = getattr(obj, "__file__", None)
    entry = f" (entry point {source})" if source and source != "provided" else ""
    if file:
        return f"module '{name}' at {file}{entry}"
    paths = list(getattr(obj, "__path__", None) or [])
    if paths:
        return (f"'{name}' is a namespace package (a folder without __init__.py: "
                f"{', '.join(paths)}){entry}; is a project folder of the same name "
                "on sys.path (the current directory?) shadowing the installed package?")
    return f"object {name!r}{entry}"


def _check_info(pid: str, obj: Any, source: str = "") -> PluginInfo:
    info = getattr(obj, "info", None)
    if not isinstance(info, PluginInfo):
        raise ValueError(f"has no 'info = PluginInfo(...)' attribute; loaded {_where(obj, source)}")
    if info.id != pid:
        raise ValueError(f"PluginInfo.id is '{info.id}' but it is enabled as '{pid}'")
    if not PLUGIN_ID_RE.match(pid) or pid in RESERVED_IDS:
        raise ValueError("id must be 2-40 lowercase letters, digits or '_', and not reserved")
    try:
        spec = SpecifierSet(info.requires_core)
    except InvalidSpecifier:
        raise ValueError(f"requires_core '{info.requires_core}' is not a version range") from None
    if Version(CORE_API_VERSION) not in spec:
        raise ValueError(
            f"requires core {info.requires_core}, but this Shequ provides core API "
            f"{CORE_API_VERSION}; install a compatible version of the plugin"
        )
    from core.registry.scopes import SCOPES

    unknown_scopes = [s for s in info.data_scopes if s not in SCOPES]
    if unknown_scopes:
        raise ValueError(
            f"declares unknown data scope(s) {', '.join(unknown_scopes)}; "
            f"known: {', '.join(SCOPES)}"
        )
    return info


def _validate_settings(info: PluginInfo, raw: dict[str, Any]) -> dict[str, Any]:
    if info.config_schema is None:
        if raw:
            keys = ", ".join(sorted(raw))
            raise ValueError(f"takes no configuration, but [plugins.{info.id}] sets {keys}")
        return {}
    schema: Schema = info.config_schema(unknown=RAISE)
    try:
        return schema.load(raw)
    except ValidationError as exc:
        msgs = "; ".join(
            f"plugins.{info.id}.{key}: {problem}" for key, problem in flatten_errors(exc.messages)
        )
        raise ValueError(f"invalid configuration: {msgs}") from None


class PluginHost:
    """One app's plugins: the pluggy manager plus what was loaded, failed, and why."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.order: list[str] = []
        self.load_seconds = 0.0

    @property
    def hook(self) -> Any:
        return self.pm.hook

    def load(
        self,
        enabled: list[str],
        *,
        strict: bool = True,
        settings: Mapping[str, dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
        available: Mapping[str, Any] | None = None,
    ) -> None:
        """Load and register ``enabled`` plugins in dependency order.

        ``extra`` maps ids to already-imported plugin objects (tests, embedders); they take
        precedence over entry points. In strict mode any problem raises :class:`PluginError`
        naming every failing plugin; otherwise failed plugins are recorded and skipped.
        """
        started = time.perf_counter()
        settings = settings or {}
        extra = dict(extra or {})
        available = discover() if available is None else available
        problems: list[tuple[str, str]] = []
        infos: dict[str, PluginInfo] = {}
        modules: dict[str, Any] = {}
        unknown = [p for p in enabled if p not in extra and p not in available]
        if unknown:
            known = sorted(set(available) | set(extra))
            raise PluginError(
                [
                    (p, f"unknown plugin (not installed); installed: {', '.join(known) or 'none'}")
                    for p in unknown
                ]
            )
        for pid in enabled:
            try:
                if pid in extra:
                    obj, source = extra[pid], "provided"
                else:
                    ep = available[pid]
                    obj, source = ep.load(), ep.value
                info = _check_info(pid, obj, source)
                validated = _validate_settings(info, dict(settings.get(pid, {})))
                compat.check_plugin(pid, obj)
            except Exception as exc:  # import errors, bad manifests: report by name
                problems.append((pid, _describe(exc)))
                self.records[pid] = PluginRecord(pid, "failed", error=_describe(exc))
                continue
            infos[pid] = info
            modules[pid] = obj
            self.records[pid] = PluginRecord(
                pid, "loaded", info=info, module=obj, settings=validated, source=source
            )
        order, order_problems = _order(enabled, infos)
        for pid, problem in order_problems:
            problems.append((pid, problem))
            self.records[pid].status = "failed"
            self.records[pid].error = problem
        for pid in order:
            if infos[pid].hookspecs is not None:
                self.pm.add_hookspecs(infos[pid].hookspecs)
        for pid in order:
            obj = modules[pid]
            try:
                self.pm.register(obj, name=pid)
                unknown_hooks = [
                    hc.name
                    for hc in self.pm.get_hookcallers(obj) or []
                    if not hc.has_spec()
                    and any(not i.optionalhook for i in hc.get_hookimpls() if i.plugin is obj)
                ]
                if unknown_hooks:
                    self.pm.unregister(obj)
                    raise ValueError(
                        f"implements unknown hook(s) {', '.join(unknown_hooks)} "
                        "(misspelled? see docs/hooks.md)"
                    )
                bad = _bad_permission_names(pid, obj)
                if bad:
                    self.pm.unregister(obj)
                    raise ValueError(
                        f"permission name(s) {', '.join(bad)} must be "
                        f"'{pid}.<thing>.<action>' in lowercase letters, digits and '_' "
                        f"(e.g. '{pid}.book.manage')"
                    )
            except Exception as exc:
                problems.append((pid, _describe(exc)))
                self.records[pid].status = "failed"
                self.records[pid].error = _describe(exc)
                continue
            self.records[pid].hooks = sorted(hc.name for hc in self.pm.get_hookcallers(obj) or [])
            self.order.append(pid)
        if problems and strict:
            raise PluginError(problems)
        for pid, problem in problems:
            log.error("plugin %s failed and is disabled: %s", pid, problem)
        self.pm.check_pending()
        self.load_seconds = time.perf_counter() - started

    # ------------------------------------------------------------------ introspection

    @property
    def loaded(self) -> list[PluginRecord]:
        return [self.records[pid] for pid in self.order]

    @property
    def failed(self) -> list[PluginRecord]:
        return [r for r in self.records.values() if r.status == "failed"]

    def is_enabled(self, pid: str) -> bool:
        return pid in self.order

    def info(self, pid: str) -> PluginInfo:
        return self.records[pid].info  # type: ignore[return-value]  # None only on a record that failed to load

    def settings(self, pid: str) -> dict[str, Any]:
        return self.records[pid].settings

    # ------------------------------------------------------------------ calling

    def _impls(self, name: str) -> list[Any]:
        """Implementations in plugin order (dependencies and config order first). pluggy
        itself calls LIFO; UI slots want the documented, configured order instead."""
        caller = getattr(self.pm.hook, name)
        rank = {pid: i for i, pid in enumerate(self.order)}
        return sorted(caller.get_hookimpls(), key=lambda i: rank.get(i.plugin_name, -1))

    def each_impl(self, name: str) -> list[tuple[str, Any]]:
        """``(plugin_id, call)`` per implementation in plugin order; ``call(**kwargs)`` passes
        each implementation only the arguments it declares (pluggy's opt-in arguments)."""

        def bind(impl: Any) -> Any:
            return lambda **kw: impl.function(**{k: kw[k] for k in impl.argnames})

        return [(impl.plugin_name, bind(impl)) for impl in self._impls(name)]

    def call_ordered(self, name: str, /, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation in plugin order, failing fast; ``(plugin_id, result)``
        pairs, ``None`` results dropped. For start-up and transactional hooks."""
        results = []
        for pid, call in self.each_impl(name):
            res = call(**kwargs)
            if res is not None:
                results.append((pid, res))
        return results

    def call_slot(self, name: str, /, **kwargs: Any) -> list[Any]:
        """Call a UI-slot hook with failure isolation: a raising plugin is logged (with its
        name) and skipped; list results are flattened, in plugin order."""
        results: list[Any] = []
        for impl in self._impls(name):
            try:
                res = impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception:
                log.exception("plugin %s failed in hook %s; skipped", impl.plugin_name, name)
                continue
            if res is None:
                continue
            if isinstance(res, list | tuple):
                results.extend(res)
            else:
                results.append(res)
        return results

    def hookimpls_by_plugin(self) -> dict[str, list[str]]:
        return {r.id: r.hooks for r in self.loaded}


def _bad_permission_names(pid: str, obj: Any) -> list[str]:
    """The names a plugin's ``register_permissions`` declares that are not
    ``<pid>.<thing>.<action>`` in lowercase. Checked at loading, so the mistake is reported
    like any other loading problem (by plugin, all at once, or skipped when not strict)."""
    impl = getattr(obj, "register_permissions", None)
    if not callable(impl) or getattr(impl, f"{hookspecs.PROJECT}_impl", None) is None:
        return []
    declared = impl() or []
    return [repr(p.name) for p in declared
            if not (PERMISSION_RE.match(p.name) and p.name.startswith(f"{pid}."))]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
