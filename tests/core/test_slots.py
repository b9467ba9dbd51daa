"""Template slots (issue 22): named places in core's and the built-in plugins' pages that
any plugin fills through ``template_slot(name, context)``, isolated like the UI hooks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.hookspecs import PluginInfo, hookimpl
from core.testing import RegistryData, login
from core.web import SLOTS

ROOT = Path(__file__).resolve().parents[2]
SLOT_CALL = re.compile(r"""\{\{\s*slot\(\s*["']([\w.]+)["']""")


class Filler:
    """Fills every slot with its name and context keys, and records what it was given."""

    info = PluginInfo(id="filler", version="1.0", title="Filler")

    def __init__(self):
        self.seen = {}

    @hookimpl
    def template_slot(self, name, context):
        user = context["user"]
        self.seen[name] = {**{k: v for k, v in context.items() if k != "user"},
                           "username": getattr(user, "username", None)}
        keys = ",".join(sorted(k for k in context if k != "user"))
        return f'<p class="filled">{name}[{keys}]</p>'


def _boom():
    class Boom:
        info = PluginInfo(id="boom", version="1.0", title="Boom")

        @staticmethod
        @hookimpl
        def template_slot(name, context):
            raise RuntimeError("slot exploded")

    return Boom()


def template_slot_calls() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for base in (ROOT / "core", ROOT / "plugins", ROOT / "docs" / "example_plugin"):
        for path in base.rglob("*.html"):
            for name in SLOT_CALL.findall(path.read_text(encoding="utf-8")):
                found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def test_every_slot_in_a_template_is_declared_and_documented():
    calls = template_slot_calls()
    assert set(calls) == set(SLOTS), (set(calls) ^ set(SLOTS))
    hooks_md = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    for name, keys in SLOTS.items():
        assert f"`{name}`" in hooks_md, f"docs/hooks.md does not document the slot {name}"
        for key in keys:
            assert f"`{key}`" in hooks_md.split(f"`{name}`", 1)[1].split("\n|", 1)[0], (
                name, key)


def test_the_example_plugin_fills_a_slot_on_core_home(make_app):
    pytest.importorskip("shequ_hello")
    app = make_app(plugins=["hello"])
    client = app.test_client()
    assert "hello-slot" not in client.get("/").get_data(as_text=True)  # signed out: nothing
    login(client, app, "resident")
    html = client.get("/").get_data(as_text=True)
    assert '<div class="slot" data-slot="home.after_services">' in html
    assert 'class="hello-slot"' in html and "/hello/" in html
    services = html.index('id="services-heading"')
    assert html.index("hello-slot") > services


def test_slot_context_on_the_person_page_and_isolation(make_app, caplog):
    filler = Filler()
    app = make_app(plugins=["boom", "filler"], extra={"boom": _boom(), "filler": filler})
    data = RegistryData(app)
    pid = data.person("赵六")
    data.assign("admin")
    client = app.test_client()
    login(client, app, "admin")
    resp = client.get(f"/registry/persons/{pid}")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "registry.person.after_details[community,person_id,status]" in html
    seen = filler.seen["registry.person.after_details"]
    assert seen["person_id"] == pid and seen["status"] == "active"
    assert seen["username"] == "test_admin"
    assert "赵六" not in str(seen)  # ids, codes and states, never personal data
    assert any("plugin boom failed in hook template_slot" in r.getMessage()
               for r in caplog.records)
    home = client.get("/").get_data(as_text=True)
    assert "home.after_services[]" in home


def test_context_is_read_only(make_app):
    class Writer:
        info = PluginInfo(id="writer", version="1.0", title="Writer")

        @staticmethod
        @hookimpl
        def template_slot(name, context):
            context["user"] = None  # raises: the context is read-only
            return "<p>wrote</p>"

    app = make_app(plugins=["writer"], extra={"writer": Writer()})
    html = app.test_client().get("/").get_data(as_text=True)
    assert "wrote" not in html and 'data-slot="home.after_services"' not in html


@pytest.mark.parametrize(("plugin", "slot"), [
    ("gov_services", "gov_services.application.after_details"),
    ("commerce", "commerce.ticket.after_details"),
])
def test_built_in_plugin_pages_have_their_slot(plugin, slot):
    calls = template_slot_calls()
    assert any(path.startswith(f"plugins/{plugin}/templates/") for path in calls[slot])
