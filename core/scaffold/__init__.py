"""``shequ plugin new NAME``: write a working, tested, installable plugin to start from.

The plugin has the rooms every built-in plugin has (manifest and hooks in ``__init__``,
``models``, ``schemas``, ``services``, ``api``, ``views``, ``templates/<id>/``,
``migrations/`` with its first revision, ``translations/``) plus a ``pyproject.toml`` with
the ``shequ.plugins`` entry point and tests that pass as generated — a page, an API
endpoint, two permissions, a table, a subscriber to ``registry.person.moved``. It imports
only ``core.toolkit``, ``core.hookspecs`` and (tests) ``core.testing``.

The project folder is ``shequ-<id>`` and the package ``shequ_<id>``: never the same name,
because a project folder named like its package shadows the installed package when the
folder's parent is the current directory (issue 22, point 11).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from core.hookspecs import PLUGIN_ID_RE, RESERVED_IDS


class ScaffoldError(ValueError):
    """The name or the target cannot be used; the message says why."""


def names(plugin_id: str) -> dict[str, str]:
    """The placeholders' values for ``plugin_id``."""
    if not PLUGIN_ID_RE.match(plugin_id) or plugin_id in RESERVED_IDS:
        raise ScaffoldError(
            f"'{plugin_id}' is not a plugin id: 2-40 lowercase letters, digits or '_', "
            f"starting with a letter, and not one of {', '.join(sorted(RESERVED_IDS))}")
    words = plugin_id.split("_")
    return {
        "__id__": plugin_id,
        "__area__": plugin_id.replace("_", "-"),
        "__pkg__": f"shequ_{plugin_id}",
        "__dist__": f"shequ-{plugin_id.replace('_', '-')}",
        "__Cls__": "".join(w.capitalize() for w in words),
        "__title__": " ".join(words).capitalize(),
        "__rev__": secrets.token_hex(6),
        "__date__": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    }


def fill(text: str, values: dict[str, str]) -> str:
    # Longest placeholder first, so none is a part of another's replacement.
    for key in sorted(values, key=len, reverse=True):
        text = text.replace(key, values[key])
    return text


def create(plugin_id: str, directory: Path | str = ".", *, compile_catalogues: bool = True
           ) -> Path:
    """Write the plugin's project folder ``<directory>/shequ-<id>`` and return its path.
    Refuses to write into an existing folder (never overwrites anyone's work). The
    Chinese catalogue is compiled (``.mo``) so the pages are translated at once."""
    from core.scaffold.files import FILES

    values = names(plugin_id)
    root = Path(directory) / values["__dist__"]
    if root.exists():
        raise ScaffoldError(f"{root} exists already; choose another --dir or remove it")
    for template, content in FILES.items():
        path = root / fill(template, values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fill(content, values), encoding="utf-8")
    if compile_catalogues:
        compile_translations(root / values["__pkg__"] / "translations")
    return root


def compile_translations(directory: Path) -> list[Path]:
    """``pybabel compile`` for every ``messages.po`` under ``directory``."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(directory.glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as f:
            catalog = read_po(f)
        mo = po.with_suffix(".mo")
        with mo.open("wb") as f:
            write_mo(f, catalog)
        written.append(mo)
    return written


__all__ = ["ScaffoldError", "compile_translations", "create", "fill", "names"]
