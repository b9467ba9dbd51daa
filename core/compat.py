"""Keeping plugins written against the core API 1.0 docs working through 1.x.

Until 1.1 the docs told plugin authors to import from several core modules
(``core.db``, ``core.identity``, ``core.api.pagination``, ``core.cli`` …). Since 1.1 the
one public module is :mod:`core.toolkit`. The old paths keep resolving — they are the very
objects the toolkit exports (a test proves it) — and a plugin that still uses them gets a
``DeprecationWarning`` per import when it is loaded, naming the toolkit replacement. The
old paths go in core API 2.0.

Why a scan at load time and not a module ``__getattr__``: core itself imports these names
from their home modules, so a warning on attribute access would fire for core's own
imports (or need every core module changed). Reading the plugin's own source with
:mod:`ast` warns exactly the plugin author, once per process, and costs nothing for the
built-in plugins (whose boundary a test enforces instead).
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Old documented path -> its toolkit name.
MOVED: dict[str, str] = {
    "core.db.Base": "core.toolkit.Base",
    "core.db.UTCDateTime": "core.toolkit.UTCDateTime",
    "core.db.current_session": "core.toolkit.current_session",
    "core.db.utcnow": "core.toolkit.utcnow",
    "core.identity.can_access": "core.toolkit.can_access",
    "core.identity.check_access": "core.toolkit.check_access",
    "core.identity.current_principal": "core.toolkit.current_principal",
    "core.identity.has_permission": "core.toolkit.has_permission",
    "core.identity.require": "core.toolkit.require",
    "core.identity.require_login": "core.toolkit.require_login",
    "core.identity.require_verified": "core.toolkit.require_verified",
    "core.api.pagination.PageArgs": "core.toolkit.PageArgs",
    "core.api.pagination.page_schema": "core.toolkit.page_schema",
    "core.api.pagination.paginate": "core.toolkit.paginate",
    "core.cli.AppContext": "core.toolkit.AppContext",
    "core.cli.pass_ctx": "core.toolkit.pass_ctx",
    "core.jobs.Job": "core.toolkit.Job",
    "core.migrations.runner.run": "core.toolkit.run_migrations",
    "core.registry.services.RegistryReader": "core.toolkit.RegistryReader",
    "core.events.Event": "core.toolkit.Event",
}

#: Modules a plugin may import.
PUBLIC_MODULES = frozenset({"core.toolkit", "core.hookspecs", "core.testing"})

_warned: set[str] = set()
_scanned: set[str] = set()  # plugin modules already read in this process


def _imports(path: Path) -> Iterable[tuple[int, str, str | None]]:
    """``(line, module, name)`` for each imported name (``name`` None for ``import x``)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.lineno, node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None


def warn_deprecated_imports(plugin_id: str, files: Iterable[Path]) -> int:
    """Warn once per (file, line, name) about imports of non-public core paths; returns
    how many were found."""
    found = 0
    for path in files:
        for line, module, name in _imports(path):
            if module != "core" and not module.startswith("core."):
                continue
            if module in PUBLIC_MODULES:
                continue
            old = f"{module}.{name}" if name else module
            key = f"{path}:{line}:{old}"
            found += 1
            if key in _warned:
                continue
            _warned.add(key)
            new = MOVED.get(old)
            hint = (f"use {new}" if new else
                    "it is not part of the plugin contract; see docs/toolkit.md")
            warnings.warn(
                f"plugin {plugin_id} imports {old} ({path.name}:{line}); {hint} — "
                "the old path is removed in core API 2.0",
                DeprecationWarning, stacklevel=2)
    return found


def check_plugin(plugin_id: str, obj: Any) -> None:
    """Scan a loaded plugin's package for old imports (third-party plugins only)."""
    name = getattr(obj, "__name__", "") or ""
    if name == "plugins" or name.startswith("plugins."):
        return  # built-in: tests/core/test_boundary.py enforces the boundary instead
    origin = getattr(obj, "__file__", None)
    if not origin or origin in _scanned:
        return  # tests build many apps: read each plugin's source once per process
    _scanned.add(origin)
    path = Path(origin)
    files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    warn_deprecated_imports(plugin_id, [f for f in files if "tests" not in f.parts])
