"""The plugin boundary is a contract, not a convention.

Plugins (the four built-in ones and the documented example) may import only the public
modules — :mod:`core.toolkit`, :mod:`core.hookspecs` and, in tests, :mod:`core.testing` —
and never another plugin's modules. The walk reads every ``import`` with :mod:`ast`, so a
deferred import inside a function counts as much as one at the top, and so does an
``importlib.import_module("core.x")`` / ``__import__("core.x")`` with a literal name.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

from core import compat, toolkit

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {"core.toolkit", "core.hookspecs", "core.testing"}
PLUGIN_ROOTS = [ROOT / "plugins", ROOT / "docs" / "example_plugin"]


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every import in ``path``, deferred ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # ``from core import db`` imports the module core.db
            if node.module == "core":
                found += [(node.lineno, f"core.{a.name}") for a in node.names]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute)
                       and node.func.attr == "import_module"))):
            found.append((node.lineno, node.args[0].value))
    return found


def plugin_files() -> list[Path]:
    files = []
    for root in PLUGIN_ROOTS:
        files += [p for p in root.rglob("*.py") if ".egg-info" not in str(p)]
    return sorted(files)


def plugin_of(path: Path) -> str | None:
    rel = path.relative_to(ROOT).parts
    return rel[1] if rel[0] == "plugins" and len(rel) > 2 else None


def test_the_walk_sees_deferred_and_dynamic_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "from core import db\n"
        "def f():\n"
        "    from core.identity.models import User\n"
        "    __import__('core.registry.models')\n"
        "    import importlib; importlib.import_module('core.cli')\n",
        encoding="utf-8",
    )
    mods = {m for _, m in imported_modules(sample)}
    assert {"core.db", "core.identity.models", "core.registry.models", "core.cli"} <= mods


def test_plugins_import_only_the_public_core_modules():
    offenders = []
    for path in plugin_files():
        for line, module in imported_modules(path):
            if (module == "core" or module.startswith("core.")) and module not in PUBLIC:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not offenders, (
        "plugins may import only core.toolkit, core.hookspecs and core.testing:\n  "
        + "\n  ".join(offenders))


def test_plugins_never_import_another_plugins_modules():
    offenders = []
    for path in plugin_files():
        own = plugin_of(path)
        for line, module in imported_modules(path):
            parts = module.split(".")
            if parts[0] == "plugins" and len(parts) > 1 and parts[1] != own:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not offenders, "plugins talk through events, not imports:\n  " + "\n  ".join(offenders)


def test_plugins_do_not_reach_into_app_extensions():
    """``current_app.extensions["shequ"]`` is core's private wiring: plugins use
    ``toolkit.current_kernel()`` / ``toolkit.plugin_settings()``."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in plugin_files()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if 'extensions["shequ' in line or "extensions['shequ" in line
    ]
    assert not offenders, "use toolkit.current_kernel():\n  " + "\n  ".join(offenders)


def test_toolkit_exports_exactly_what_it_documents():
    """``__all__`` is the contract: sorted, every name defined, and each one documented
    in docs/toolkit.md with a heading."""
    names = list(toolkit.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), n)) or names == sorted(names)
    for name in names:
        assert hasattr(toolkit, name), name
    text = (ROOT / "docs" / "toolkit.md").read_text(encoding="utf-8")
    missing = [n for n in names if f"`{n}" not in text]
    assert not missing, f"docs/toolkit.md does not document: {missing}"


# ------------------------------------------------------------------ old import paths


@pytest.mark.parametrize("old", sorted(compat.MOVED))
def test_documented_old_paths_still_resolve(old):
    """A plugin written against the 1.0 docs keeps working: each path it was told to
    import still resolves to the same object the toolkit exports."""
    module_name, _, attr = old.rpartition(".")
    module = __import__(module_name, fromlist=[attr])
    new = compat.MOVED[old].rpartition(".")[2]
    assert getattr(module, attr) is getattr(toolkit, new)


def test_loading_a_plugin_with_old_imports_warns_with_the_replacement(tmp_path):
    source = tmp_path / "legacy_mod.py"
    source.write_text(
        "from core.db import current_session, utcnow\n"
        "def f():\n"
        "    from core.identity import require\n"
        "    from core.toolkit import has_permission\n",
        encoding="utf-8",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compat.warn_deprecated_imports("legacy", [source])
    messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert any("core.db.current_session" in m and "core.toolkit.current_session" in m
               for m in messages), messages
    assert any("core.identity.require" in m and "core.toolkit.require" in m for m in messages)
    assert not any("has_permission" in m for m in messages)


def test_built_in_plugins_load_without_deprecation_warnings():
    for root in (ROOT / "plugins").iterdir():
        if not (root / "__init__.py").exists():
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            compat.warn_deprecated_imports(root.name, sorted(root.rglob("*.py")))
        assert not [w for w in caught if issubclass(w.category, DeprecationWarning)], root.name
