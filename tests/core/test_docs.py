"""The reference docs follow the code: every hookspec is documented in docs/hooks.md with
its exact signature (and nothing else is), every key of config/default.toml is explained
in docs/operations.md, and the README lists the demo accounts as core/demo.py has them."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path

import pytest

from core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS_MD = ROOT / "docs" / "hooks.md"
OPERATIONS_MD = ROOT / "docs" / "operations.md"
DEFAULT_TOML = ROOT / "config" / "default.toml"
HEADING = re.compile(r"^###\s+`(?P<name>\w+)\((?P<args>[^)]*)\)`\s*$", re.MULTILINE)


def hookspec_signatures() -> dict[str, str]:
    """``{name: "name(arg, arg)"}`` for every function marked with the hookspec marker."""
    specs = {}
    for name, fn in vars(hookspecs).items():
        if callable(fn) and getattr(fn, f"{hookspecs.PROJECT}_spec", None) is not None:
            args = ", ".join(inspect.signature(fn).parameters)
            specs[name] = f"{name}({args})"
    return specs


def documented_signatures() -> dict[str, str]:
    found: dict[str, str] = {}
    for m in HEADING.finditer(HOOKS_MD.read_text(encoding="utf-8")):
        args = ", ".join(a.strip() for a in m["args"].split(",") if a.strip())
        assert m["name"] not in found, f"{m['name']} is documented twice in docs/hooks.md"
        found[m["name"]] = f"{m['name']}({args})"
    return found


def test_hookspecs_are_found():
    specs = hookspec_signatures()
    assert "nav_items" in specs and "seed_demo_data" in specs
    assert set(hookspecs.UI_SLOT_HOOKS) <= set(specs)


@pytest.mark.parametrize("name", sorted(hookspec_signatures()))
def test_hook_is_documented_with_its_signature(name):
    documented = documented_signatures()
    expected = hookspec_signatures()[name]
    assert name in documented, f"docs/hooks.md has no heading ### `{expected}`"
    assert documented[name] == expected, (
        f"docs/hooks.md documents {documented[name]}, but core/hookspecs.py says {expected}"
    )


def test_no_documented_hook_is_missing_from_hookspecs():
    extra = sorted(set(documented_signatures()) - set(hookspec_signatures()))
    assert not extra, f"docs/hooks.md documents hooks that do not exist: {extra}"


def test_ui_slot_hooks_are_listed_as_isolated():
    text = HOOKS_MD.read_text(encoding="utf-8")
    for name in hookspecs.UI_SLOT_HOOKS:
        assert f"`{name}`" in text.split("## The manifest")[0], name


def config_keys() -> list[tuple[str, str]]:
    data = tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8"))
    return [(section, key) for section, table in data.items() for key in table]


def section_text(doc: str, section: str) -> str:
    """The text under the heading that names ``[section]``, up to the next heading of the
    same or a higher level."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(#+)\s.*`\[" + re.escape(section) + r"\]`", line)
        if m:
            level = len(m[1])
            body = []
            for nxt in lines[i + 1 :]:
                h = re.match(r"^(#+)\s", nxt)
                if h and len(h[1]) <= level:
                    break
                body.append(nxt)
            return "\n".join(body)
    raise AssertionError(f"docs/operations.md has no heading naming `[{section}]`")


@pytest.mark.parametrize(("section", "key"), config_keys())
def test_config_key_is_documented(section, key):
    body = section_text(OPERATIONS_MD.read_text(encoding="utf-8"), section)
    assert f"`{key}`" in body, f"docs/operations.md does not explain [{section}] {key}"


def test_readme_lists_the_demo_accounts():
    from core.demo import DEMO_ACCOUNTS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for role, (username, password) in DEMO_ACCOUNTS.items():
        row = f"| {role} | `{username}` | `{password}` |"
        assert row in readme, f"README.md's demo account table lacks: {row}"


def test_core_testing_names_are_documented():
    """Every public name of core.testing (the plugin author's test kit) is in
    docs/toolkit.md's core.testing section, and the new helpers in the plugin guide."""
    from core import testing

    text = (ROOT / "docs" / "toolkit.md").read_text(encoding="utf-8")
    section = text.split("## `core.testing`", 1)[1]
    missing = [n for n in testing.__all__ if f"`{n}" not in section]
    assert not missing, f"docs/toolkit.md's core.testing section lacks {missing}"
    guide = (ROOT / "docs" / "plugin-guide.md").read_text(encoding="utf-8")
    for name in ("RegistryData", "assert_api_fuzzes", "fuzz_api", "deliver_events"):
        assert name in guide, name


def test_event_payload_keys_are_what_events_types_prints():
    """Issue 22, point 12: `shequ events types` prints a payload's keys (a field's
    data_key, e.g. ``fields``), the names docs/events.md uses — not attribute names."""
    import tempfile

    from click.testing import CliRunner

    from core.cli import AppContext, main
    from core.testing import build_test_app

    with tempfile.TemporaryDirectory() as tmp:
        app, cleanup = build_test_app(Path(tmp), plugins=[])
        try:
            out = CliRunner().invoke(main, ["events", "types"], obj=AppContext(app)).output
        finally:
            cleanup()
    block = out.split("registry.person.updated", 1)[1].split("subscribers:", 1)[0]
    assert "payload: fields, person_id, version, via" in block, block
    assert "fields_" not in out
    events_md = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    assert "`registry.person.updated` | core | `person_id`, `fields`" in events_md


def test_the_css_classes_the_guide_offers_exist():
    """docs/plugin-guide.md §6 lists the CSS classes meant for plugins (issue 22, point 8);
    each is in core's one stylesheet, and so are the flash categories it names."""
    guide = (ROOT / "docs" / "plugin-guide.md").read_text(encoding="utf-8")
    table = guide.split("**CSS classes**", 1)[1].split("\n\n", 2)[1]
    names = set(re.findall(r"`([a-z][a-z-]*)`", table))
    names |= {n.rstrip("(") for n in re.findall(r"`([a-z-]+)\(es\)`|`([a-z-]+)\(s\)`", table)
              for n in n if n}
    css = (ROOT / "core" / "web" / "static" / "shequ.css").read_text(encoding="utf-8")
    assert len(names) > 30
    missing = sorted(n for n in names if not re.search(r"\." + re.escape(n) + r"\b", css))
    assert not missing, f"the guide offers classes shequ.css lacks: {missing}"
    for category in ("success", "warning", "error"):
        assert f".flash-{category}" in css and f"`{category}`" in guide
    base = (ROOT / "core" / "web" / "templates" / "base.html").read_text(encoding="utf-8")
    assert set(re.findall(r"{% block (\w+) %}", base)) == {"title", "content"}
