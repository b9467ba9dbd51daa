"""Core is layered, and its modules import no cycle.

Every module under ``core/`` belongs to one layer (:data:`LAYER_OF`), and a module may
import only its own layer or a lower one. The walk reads every import with :mod:`ast`: at
the top, deferred inside a function, and ``__import__("core.x")`` /
``importlib.import_module("core.x")`` with a literal name. Imports under ``if
TYPE_CHECKING:`` obey the layers too (an annotation may not name a higher layer either) but
are left out of the cycle check, since they never run. docs/architecture.md ("Layers")
explains the order; this map is its definition.

Layers, lowest first (a module may import its own layer and those before it):

=========== ==================================================================================
contract    ``core`` itself, ``core.version``, ``core.hookspecs``: the plugin contract
foundation  ``core.db``, ``core.config``, ``core.calendar``, ``core.requestid``, ``core.jobs``,
            ``core.exports``, ``core.compat``, ``core.backup``, ``core.server``, ``core.migrate``,
            ``core.migrations``: no knowledge of any area
events      ``core.events`` (the bus, outbox, delivery, signals)
audit       ``core.audit`` (audit and access log; ``audit.web`` reads request facts only)
identity    identity's data: ``identity.models``, ``passwords``, ``permissions``,
            ``notifications``
registry    ``core.registry`` (persons, households, places; the scoped reader, masking,
            search, import/export, corrections)
accounts    identity's services (sign-in and its limits, sessions, tokens, assisted sessions,
            verification of an account against the registry): the rest of ``core.identity``
web         pages and APIs: ``core.web``, ``core.api``, ``core.exchange`` (an API for
            department systems, whose data standard is ``registry.api``'s schemas), every
            ``views``/``api`` module, and the area packages' ``__init__`` (their
            ``init_app`` registers their pages), ``core.events.views`` included
app         ``core.app`` (the factory), ``core.plugins``, ``core.models``, the demo seeds
cli         ``core.cli`` and every area's ``cli`` module
public      ``core.toolkit``, ``core.testing`` and the test helpers: the top, imported by
            plugins and tests, never by core
=========== ==================================================================================
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "core"

LAYERS = ["contract", "foundation", "events", "audit", "identity", "registry", "accounts",
          "web", "app", "cli", "public"]

#: Module → layer. ``"pkg.*"`` covers a package and everything under it; an exact name wins
#: over a pattern, and a longer pattern over a shorter one.
LAYER_OF: dict[str, str] = {
    # contract
    "core": "contract",
    "core.version": "contract",
    "core.hookspecs": "contract",
    # foundation
    "core.db": "foundation",
    "core.config": "foundation",
    "core.requestid": "foundation",
    "core.rules": "foundation",
    "core.calendar": "foundation",
    "core.current": "foundation",
    "core.compat": "foundation",
    "core.jobs": "foundation",
    "core.metrics": "foundation",
    "core.logs": "foundation",
    "core.exports": "foundation",
    "core.backup": "foundation",
    "core.server": "foundation",
    "core.migrate": "foundation",
    "core.migrations.*": "foundation",
    # events
    "core.events.*": "events",
    "core.events.views": "web",
    "core.events.cli": "cli",
    # audit
    "core.audit.*": "audit",
    # identity's data, then (after the registry) its services
    "core.identity.models": "identity",
    "core.identity.passwords": "identity",
    "core.identity.permissions": "identity",
    "core.identity.notifications": "identity",
    "core.identity.messages": "identity",
    "core.identity.channels": "identity",
    "core.identity.channels.*": "identity",
    "core.identity.*": "accounts",
    "core.identity": "web",
    "core.identity.views": "web",
    "core.identity.account_views": "web",
    "core.identity.account_common": "web",
    "core.identity.signup_views": "web",
    "core.identity.admin_views": "web",
    "core.identity.api": "web",
    "core.identity.resident_api": "web",
    "core.identity.cli": "cli",
    # registry
    "core.registry.*": "registry",
    "core.registry": "web",
    "core.registry.api": "web",
    "core.registry.api.*": "web",
    "core.registry.views.*": "web",
    "core.registry.views": "web",
    "core.registry.demo": "app",
    "core.registry.cli": "cli",
    "core.registry.testing": "public",
    "core.notices.*": "accounts", "core.notices": "web", "core.notices.views": "web",
    "core.notices.api": "web",
    # web and API
    "core.web.*": "web",
    "core.web.forms": "web",  # form helpers every area's pages share
    "core.api.*": "web",
    "core.exchange.*": "web",
    "core.exchange.cli": "cli",
    # the application
    "core.app": "app",
    "core.plugins": "app",
    "core.models": "app",
    "core.demo": "app",
    # command line
    "core.cli.*": "cli",
    "core.scaffold": "cli",  # `shequ plugin new`: the files of a new plugin
    "core.scaffold.*": "cli",
    # public
    "core.toolkit": "public",
    "core.testing": "public",
    "core.testing_matrix": "public",
    "core.testing_db": "public",
}

#: Cycles that exist today and are owed a fix; the test fails if one disappears (remove it
#: here) or a new one appears. None is left: ``create_app`` registers identity's pages, as
#: it does ``core.events.views``.
KNOWN_CYCLES: set[frozenset[str]] = set()


# ------------------------------------------------------------------------------ the walk


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def core_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(CORE.rglob("*.py"))}


MODULES = core_modules()


def layer_of(module: str) -> str | None:
    if module in LAYER_OF:
        return LAYER_OF[module]
    parts = module.split(".")
    while parts:
        pattern = ".".join(parts) + ".*"
        if pattern in LAYER_OF:
            return LAYER_OF[pattern]
        parts.pop()
    return None


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The core module ``name`` lands in: itself, or the package that defines the name."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING", "typing.TYPE_CHECKING"
        ):
            for stmt in node.body:
                inside |= {id(n) for n in ast.walk(stmt)}
    return inside


def imports_of(
    module: str, path: Path, modules: dict[str, Path] = MODULES
) -> list[tuple[int, str, bool]]:
    """``(line, imported core module, type-checking only)`` for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    typing_only = _type_checking_nodes(tree)
    found: list[tuple[int, str, bool]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``from core import db`` imports the module core.db; ``from core.events import
            # Event`` imports core.events
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                     for a in node.names]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute)
                       and node.func.attr == "import_module"))):
            names = [node.args[0].value]
        for name in names:
            if name != "core" and not name.startswith("core."):
                continue
            target = _resolve(name, modules)
            if target is not None and target != module:
                found.append((node.lineno, target, id(node) in typing_only))
    return found


@functools.cache
def import_graph(typing_imports: bool) -> dict[str, set[str]]:
    return {
        module: {t for _, t, typing in imports_of(module, path) if typing_imports or not typing}
        for module, path in MODULES.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (each holds a cycle)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def cycle_path(graph: dict[str, set[str]], component: frozenset[str]) -> list[str]:
    """One concrete cycle inside ``component``, for the failure message."""
    start = min(component)
    paths = {start: [start]}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                todo.append(w)
    return sorted(component)


# ------------------------------------------------------------------------------ the tests


def test_the_walk_sees_every_kind_of_import(tmp_path):
    (tmp_path / "core" / "pkg").mkdir(parents=True)
    sample = tmp_path / "core" / "pkg" / "mod.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "import core.db\n"
        "from core import config\n"
        "from . import sibling\n"
        "from core.events import Event\n"
        "if TYPE_CHECKING:\n"
        "    from core.cli import AppContext\n"
        "def f():\n"
        "    from core.registry.models import Person\n"
        "    __import__('core.web')\n"
        "    import importlib; importlib.import_module('core.app')\n",
        encoding="utf-8",
    )
    known = {m: Path() for m in ("core", "core.db", "core.config", "core.pkg", "core.pkg.mod",
                                 "core.pkg.sibling", "core.events", "core.cli",
                                 "core.registry.models", "core.web", "core.app")}
    found = {(t, typing) for _, t, typing in imports_of("core.pkg.mod", sample, known)}
    assert found == {
        ("core.db", False), ("core.config", False), ("core.pkg.sibling", False),
        ("core.events", False), ("core.cli", True), ("core.registry.models", False),
        ("core.web", False), ("core.app", False),
    }


def test_every_core_module_has_a_layer():
    missing = sorted(m for m in MODULES if layer_of(m) is None)
    assert not missing, (
        "add these modules to LAYER_OF in tests/core/test_layering.py (and, if the layer is "
        "new, to docs/architecture.md): " + ", ".join(missing)
    )
    assert set(LAYER_OF.values()) <= set(LAYERS)


def test_the_map_names_no_module_that_is_gone():
    stale = sorted(
        key for key in LAYER_OF
        if not (key[:-2] in MODULES if key.endswith(".*") else key in MODULES)
    )
    assert not stale, "remove these from LAYER_OF: " + ", ".join(stale)


def test_no_core_module_imports_a_higher_layer():
    offenders = []
    for module, path in MODULES.items():
        mine = LAYERS.index(layer_of(module) or "public")
        for line, target, typing in imports_of(module, path):
            theirs = LAYERS.index(layer_of(target) or "public")
            if theirs > mine:
                offenders.append(
                    f"{path.relative_to(ROOT)}:{line} ({LAYERS[mine]}) imports {target} "
                    f"({LAYERS[theirs]}){' under TYPE_CHECKING' if typing else ''}"
                )
    assert not offenders, (
        "core imports upwards (order: " + " < ".join(LAYERS) + "):\n  " + "\n  ".join(offenders)
    )


def test_core_has_no_import_cycles():
    graph = import_graph(typing_imports=False)
    found = set(cycles(graph))
    new = [cycle_path(graph, c) for c in found - KNOWN_CYCLES]
    assert not new, "import cycles in core:\n  " + "\n  ".join(" -> ".join(p) for p in new)
    gone = [sorted(c) for c in KNOWN_CYCLES - found]
    assert not gone, f"these cycles are gone; remove them from KNOWN_CYCLES: {gone}"


@pytest.mark.parametrize("pair", [
    ("core.cli", "core.events.cli"), ("core.cli", "core.identity.cli"),
    ("core.cli", "core.registry.cli"), ("core.cli", "core.exchange.cli"),
    ("core.api.errors", "core.web.errors"), ("core.events", "core.events.delivery"),
    ("core.events", "core.identity"), ("core.hookspecs", "core.identity"),
])
def test_the_cycles_named_in_issue_15_stay_gone(pair):
    """These used to import each other, directly or through a third module."""
    together = [c for c in cycles(import_graph(typing_imports=False)) if set(pair) <= c]
    assert not together, f"{pair[0]} and {pair[1]} are in a cycle again: {sorted(together[0])}"


def test_the_contract_imports_nothing_of_core_but_the_version():
    """``core.hookspecs`` is the bottom: not even an annotation may name another module."""
    imported = {t for _, t, _typing in imports_of("core.hookspecs", MODULES["core.hookspecs"])}
    assert imported <= {"core.version"}, imported
