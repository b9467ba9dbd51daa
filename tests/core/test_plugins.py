"""The plugin host: discovery, enablement, ordering, failure handling, isolation."""

from importlib.metadata import EntryPoint

import click
import pytest
from flask import Blueprint
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema, fields

from core.hookspecs import (
    DemoContext,
    NavItem,
    Panel,
    Permission,
    PluginInfo,
    SearchResult,
    hookimpl,
)
from core.plugins import PluginError, PluginHost, discover

BUILTIN = ["gov_services", "commerce", "self_governance", "surveillance"]


def make_plugin(pid, *, depends=(), requires_core=">=1.0,<2", config_schema=None, **hooks):
    """A plugin object with ``info`` and the given hook implementations."""
    attrs = {
        "info": PluginInfo(
            id=pid,
            version="1.0",
            title=pid.title(),
            depends=tuple(depends),
            requires_core=requires_core,
            config_schema=config_schema,
        )
    }
    for name, fn in hooks.items():
        attrs[name] = staticmethod(hookimpl(fn))
    return type(f"Plugin_{pid}", (), attrs)()


class Recorder:
    """Implements every hook and records each call, to prove that each one fires."""

    info = PluginInfo(id="rec", version="1.0", title="Recorder", data_scopes=("registry.grid",))

    def __init__(self):
        self.calls = []

    @hookimpl
    def shequ_startup(self, app):
        self.calls.append("shequ_startup")

    @hookimpl
    def register_blueprints(self, app):
        self.calls.append("register_blueprints")
        bp = Blueprint("rec", __name__)
        bp.add_url_rule("/hi", "hi", lambda: "hi from rec")
        return [bp]

    @hookimpl
    def register_api(self, api):
        self.calls.append("register_api")
        bp = ApiBlueprint("rec_api", __name__)

        @bp.route("/ping")
        @bp.response(200)
        def ping():
            return {"pong": True}

        return [bp]

    @hookimpl
    def register_commands(self, cli):
        self.calls.append("register_commands")
        cli.add_command(click.Command("rec-hello", callback=lambda: click.echo("hello")))

    @hookimpl
    def register_event_types(self, bus):
        self.calls.append("register_event_types")

        class Payload(Schema):
            n = fields.Integer(required=True)

        bus.declare("rec.thing.done", Payload, "A thing was done")

    @hookimpl
    def register_event_handlers(self, bus):
        self.calls.append("register_event_handlers")
        bus.subscribe("rec.thing.*", lambda event, session: None, name="noop")

    @hookimpl
    def register_permissions(self):
        self.calls.append("register_permissions")
        return [Permission("rec.thing.read", "Read things")]

    @hookimpl
    def default_roles(self):
        self.calls.append("default_roles")
        return {"resident": ["rec.thing.read"]}

    @hookimpl
    def nav_items(self, user):
        self.calls.append("nav_items")
        return [NavItem(label="Recorder", url="/rec/hi", order=1)]

    @hookimpl
    def dashboard_widgets(self, user):
        self.calls.append("dashboard_widgets")
        return [Panel(title="Recorder widget", html="<p>widget body</p>")]

    @hookimpl
    def resident_profile_panels(self, resident, viewer):
        self.calls.append("resident_profile_panels")
        return [Panel(title="rec panel", html="")]

    @hookimpl
    def template_slot(self, name, context):
        self.calls.append("template_slot")
        return "<p>rec slot</p>" if name == "home.after_services" else None

    @hookimpl
    def search(self, query, user):
        self.calls.append("search")
        return [SearchResult(title=f"found {query}", url="/rec/hi", kind="thing")]

    @hookimpl
    def send_message(self, channel, recipient, subject, body):
        self.calls.append("send_message")
        return channel == "pigeon" or None

    @hookimpl
    def seed_demo_data(self, session, demo):
        self.calls.append("seed_demo_data")
        demo.extra["rec"] = "seeded"

    @hookimpl
    def register_jobs(self, app):
        from core.jobs import Job

        self.calls.append("register_jobs")
        return [Job("rec.tick", 30, lambda app: "ticked", "a test job")]


def test_every_hook_fires(make_app):
    rec = Recorder()
    app = make_app(plugins=["rec"], extra={"rec": rec})
    kernel = app.extensions["shequ"]
    client = app.test_client()
    assert client.get("/rec/hi").get_data(as_text=True) == "hi from rec"
    assert client.get("/api/v1/rec/ping").get_json() == {"pong": True}
    home = client.get("/").get_data(as_text=True)
    assert "Recorder" in home and "widget body" in home
    assert '<div class="slot" data-slot="home.after_services"><p>rec slot</p></div>' in home
    assert "rec.thing.read" in kernel.roles["resident"]
    assert "rec.thing.done" in kernel.bus.types
    assert [s.id for s in kernel.bus.subscribers_for("rec.thing.done")] == ["rec:noop"]
    group = click.Group()
    kernel.plugins.call_ordered("register_commands", cli=group)
    assert "rec-hello" in group.commands
    assert kernel.plugins.call_slot("search", query="x", user=None)[0].title == "found x"
    assert kernel.plugins.call_slot("resident_profile_panels", resident=None, viewer=None)
    assert kernel.plugins.hook.send_message(
        channel="pigeon", recipient="x", subject="s", body="b") is True
    demo = DemoContext()
    kernel.plugins.call_ordered("seed_demo_data", session=None, demo=demo)
    assert demo.extra["rec"] == "seeded"
    from core.jobs import run_job

    assert run_job(app, kernel.jobs["rec.tick"]) == (True, "ticked")
    import core.hookspecs as specs
    from core.hookspecs import UI_SLOT_HOOKS

    declared = {n for n in dir(specs) if getattr(getattr(specs, n), "shequ_spec", None)}
    assert set(rec.calls) == declared, declared - set(rec.calls)
    assert set(UI_SLOT_HOOKS) <= declared


def test_order_follows_dependencies_then_config(make_app):
    seen = []

    def nav(tag):
        def impl(user):
            seen.append(tag)
            return [NavItem(label=tag, url=f"/{tag}")]

        return impl

    plugins = {
        "alpha": make_plugin("alpha", depends=["gamma"], nav_items=nav("alpha")),
        "beta": make_plugin("beta", nav_items=nav("beta")),
        "gamma": make_plugin("gamma", nav_items=nav("gamma")),
    }
    app = make_app(plugins=["alpha", "beta", "gamma"], extra=plugins)
    host = app.extensions["shequ"].plugins
    assert host.order == ["gamma", "alpha", "beta"]
    for _ in range(3):
        seen.clear()
        host.call_slot("nav_items", user=None)
        assert seen == ["gamma", "alpha", "beta"]


def test_missing_and_cyclic_dependencies_are_named(make_app):
    with pytest.raises(PluginError) as err:
        make_app(plugins=["alpha"], extra={"alpha": make_plugin("alpha", depends=["omega"])})
    assert "alpha: depends on 'omega', which is not enabled" in str(err.value)
    cyc = {"a1": make_plugin("a1", depends=["b1"]), "b1": make_plugin("b1", depends=["a1"])}
    with pytest.raises(PluginError) as err:
        make_app(plugins=["a1", "b1"], extra=cyc)
    assert "dependency cycle: a1 -> b1 -> a1" in str(err.value)


def test_incompatible_core_version_is_refused(make_app):
    with pytest.raises(PluginError) as err:
        make_app(plugins=["future"], extra={"future": make_plugin("future", requires_core=">=2")})
    assert "future: ValueError: requires core >=2" in str(err.value)


def test_misspelled_hookimpl_fails_loudly(make_app):
    bad = make_plugin("typo", nav_item=lambda user: [])
    with pytest.raises(PluginError) as err:
        make_app(plugins=["typo"], extra={"typo": bad})
    assert "typo" in str(err.value) and "unknown hook(s) nav_item" in str(err.value)


def test_plugin_config_is_validated_with_its_schema(make_app):
    class Settings(Schema):
        sla_hours = fields.Integer(load_default=24)

    plugin = make_plugin("cfg", config_schema=Settings)
    app = make_app(
        plugins=["cfg"], extra={"cfg": plugin}, config={"plugins": {"cfg": {"sla_hours": 4}}}
    )
    assert app.extensions["shequ"].plugins.settings("cfg") == {"sla_hours": 4}
    with pytest.raises(PluginError) as err:
        make_app(
            plugins=["cfg"],
            extra={"cfg": plugin},
            config={"plugins": {"cfg": {"sla_hours": "soon", "colour": 1}}},
        )
    assert "plugins.cfg.sla_hours: Not a valid integer." in str(err.value)
    assert "plugins.cfg.colour" in str(err.value)


def test_bad_manifests_are_refused(make_app):
    class NoInfo:
        pass

    with pytest.raises(PluginError, match="noinfo: ValueError: has no 'info"):
        make_app(plugins=["noinfo"], extra={"noinfo": NoInfo()})
    with pytest.raises(PluginError, match="is enabled as 'other'"):
        make_app(plugins=["other"], extra={"other": make_plugin("renamed")})
    with pytest.raises(PluginError, match="not reserved"):
        make_app(plugins=["registry"], extra={"registry": make_plugin("registry")})
    scoped = make_plugin("scoped")
    object.__setattr__(scoped.info, "data_scopes", ("registry.everything",))
    with pytest.raises(PluginError, match="unknown data scope"):
        make_app(plugins=["scoped"], extra={"scoped": scoped})


def test_import_failure_is_reported_by_name_strict_and_lenient():
    broken = EntryPoint(name="broken", value="tests.core.no_such_module", group="shequ.plugins")
    available = {**discover(), "broken": broken}
    with pytest.raises(PluginError) as err:
        PluginHost().load(["broken", "commerce"], available=available)
    assert "broken: ModuleNotFoundError" in str(err.value)
    host = PluginHost()
    host.load(["broken", "commerce"], strict=False, available=available)
    assert host.order == ["commerce"]
    assert host.records["broken"].status == "failed"
    assert "ModuleNotFoundError" in host.records["broken"].error


def test_lenient_mode_starts_and_shows_the_failed_plugin(make_app, client_as):
    boom = make_plugin("boom", requires_core=">=9")
    app = make_app(
        plugins=["boom", "commerce"], extra={"boom": boom}, config={"plugins": {"strict": False}}
    )
    assert app.extensions["shequ"].plugins.order == ["commerce"]
    health = app.test_client().get("/healthz")
    assert health.status_code == 200
    assert health.get_json()["status"] == "degraded"
    assert health.get_json()["checks"]["plugins"]["failed"] == ["boom"]


def test_raising_ui_slot_is_isolated(make_app, caplog):
    def explode(user):
        raise RuntimeError("nav exploded")

    app = make_app(
        plugins=["boom", "commerce"], extra={"boom": make_plugin("boom", nav_items=explode)}
    )
    resp = app.test_client().get("/")
    assert resp.status_code == 200
    assert "便民服务" in resp.get_data(as_text=True)
    assert any("plugin boom failed in hook nav_items" in r.getMessage() for r in caplog.records)


def test_disabled_plugin_contributes_nothing(make_app):
    app = make_app(plugins=["commerce"])
    client = app.test_client()
    assert client.get("/gov-services/").status_code == 404
    assert client.get("/commerce/").status_code == 200
    html = client.get("/").get_data(as_text=True)
    assert "便民服务" in html and "政务服务" not in html
    kernel = app.extensions["shequ"]
    assert not any(p.startswith("gov_services.") for p in kernel.permissions)


def test_discovery_is_not_enablement():
    installed = discover()
    assert set(BUILTIN) <= set(installed)
    host = PluginHost()
    host.load([])
    assert host.order == []


def test_core_runs_with_every_plugin_disabled(make_app):
    app = make_app(plugins=[])
    client = app.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/healthz").get_json()["status"] == "ok"
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_a_plugin_can_declare_hookspecs_for_others(make_app):
    from core.hookspecs import hookspec

    class ServiceTypeSpecs:
        @hookspec
        def provider_service_types(self):
            """Return extra service types."""

    provider = make_plugin("provider")
    object.__setattr__(provider.info, "hookspecs", ServiceTypeSpecs)
    contributor = make_plugin("contrib", depends=["provider"],
                              provider_service_types=lambda: ["longevity_allowance"])
    app = make_app(plugins=["provider", "contrib"],
                   extra={"provider": provider, "contrib": contributor})
    host = app.extensions["shequ"].plugins
    assert host.call_ordered("provider_service_types") == [("contrib", ["longevity_allowance"])]


def test_a_namespace_package_shadowing_the_plugin_is_explained(tmp_path, monkeypatch):
    """A project folder named like its package, without __init__.py at its top, imports as
    a namespace package: the error says so and where it is (issue 22, point 11)."""
    (tmp_path / "library").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = EntryPoint(name="library", value="library", group="shequ.plugins")
    with pytest.raises(PluginError) as err:
        PluginHost().load(["library"], available={"library": ep})
    text = str(err.value)
    assert "library: ValueError: has no 'info = PluginInfo(...)' attribute" in text
    assert "namespace package" in text and str(tmp_path / "library") in text


def test_a_module_without_info_names_its_file(tmp_path, monkeypatch):
    (tmp_path / "notaplugin.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = EntryPoint(name="notaplugin", value="notaplugin", group="shequ.plugins")
    with pytest.raises(PluginError, match=r"module 'notaplugin' at .*notaplugin\.py"):
        PluginHost().load(["notaplugin"], available={"notaplugin": ep})


@pytest.mark.parametrize("name", ["library.Manage", "library.manage", "library.book.Manage",
                                  "library.book-x.manage", "other.book.manage"])
def test_permission_names_are_id_thing_action_in_lowercase(make_app, name):
    """Start-up enforces ``<id>.<thing>.<action>`` in lowercase (issue 22, point 2)."""
    plugin = make_plugin("library", register_permissions=lambda: [Permission(name, "x")])
    with pytest.raises(PluginError) as err:
        make_app(plugins=["library"], extra={"library": plugin})
    assert f"library: ValueError: permission name(s) '{name}' must be" in str(err.value)
    assert "library.<thing>.<action>" in str(err.value)


def test_well_formed_permission_names_load_and_builtins_comply(make_app):
    plugin = make_plugin("library",
                         register_permissions=lambda: [Permission("library.book.manage", "x")])
    app = make_app(plugins=[*BUILTIN, "library"], extra={"library": plugin})
    names = set(app.extensions["shequ"].permissions)
    assert "library.book.manage" in names
    from core.plugins import PERMISSION_RE

    plugin_names = [n for n in names if n.split(".")[0] in {*BUILTIN, "library"}]
    assert len(plugin_names) > 20
    assert all(PERMISSION_RE.match(n) for n in plugin_names)


def test_abort_message_reaches_the_client(make_app):
    """``flask_smorest.abort(404, message=...)`` answers with the plugin's message, not
    werkzeug's generic text (issue 22, point 4); 409 keeps its fields map."""
    from flask_smorest import abort

    def register_api(api):
        bp = ApiBlueprint("books_api", __name__)

        @bp.route("/books/<int:book_id>")
        @bp.response(200)
        def book(book_id):
            if book_id == 1:
                abort(404, message="No such book.")
            if book_id == 2:
                abort(409, message="The book is out.", messages={"book": ["out"]})
            abort(404)

        return [bp]

    app = make_app(plugins=["books"], extra={"books": make_plugin("books",
                                                                  register_api=register_api)})
    client = app.test_client()
    resp = client.get("/api/v1/books/books/1")
    assert resp.status_code == 404
    assert resp.json["error"]["message"] == "No such book."
    resp = client.get("/api/v1/books/books/2")
    assert resp.status_code == 409 and resp.json["error"]["code"] == "conflict"
    assert resp.json["error"]["message"] == "The book is out."
    assert resp.json["error"]["fields"] == {"book": ["out"]}
    resp = client.get("/api/v1/books/books/3")
    assert resp.status_code == 404 and "not found" in resp.json["error"]["message"].lower()
