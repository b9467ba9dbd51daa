"""The plugin developer's loop (issue 22): core.testing's registry data and fuzz check,
``shequ run --dev`` / ``--plugin``, and one gunicorn control socket per instance."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from flask_smorest import Blueprint as ApiBlueprint

from core.hookspecs import PluginInfo, hookimpl
from core.testing import C2, RegistryData, assert_api_fuzzes, fuzz_api


class Mover:
    """A plugin that subscribes to registry.person.moved, as a library plugin would."""

    info = PluginInfo(id="mover", version="1.0", title="Mover")

    def __init__(self):
        self.seen = []

    @hookimpl
    def register_event_handlers(self, bus):
        bus.subscribe("registry.person.moved", lambda event, session: self.seen.append(
            dict(event.payload)), name="seen")


def test_registry_data_makes_real_persons_households_and_moves(make_app):
    plugin = Mover()
    app = make_app(plugins=["mover"], extra={"mover": plugin})
    data = RegistryData(app)
    head = data.person("王芳", sex="F", born="1975-03-02")
    child = data.person("王小明", born="2010-06-01")
    household = data.household(head, {child: "20"})
    assert household > 0 and head != child
    data.move(child, "d3")
    assert data.deliver() >= 1
    assert len(plugin.seen) == 1
    moved = plugin.seen[0]
    assert moved["person_id"] == child and moved["to_community"] == C2
    assert moved["to_dwelling_id"] == data.dwelling("d3")
    data.die(head)
    from sqlalchemy import select

    from core.registry.models import Person

    with app.app_context(), app.extensions["shequ"].db.session_scope() as session:
        status = dict(session.execute(select(Person.id, Person.status)).all())
    assert status == {head: "deceased", child: "active"}


def test_registry_data_fixture_and_bound_account(make_app):
    app = make_app(plugins=[])
    data = RegistryData(app)
    pid = data.person("李四")
    user = data.bind("resident", pid)
    from core.toolkit import accounts_for_person

    with app.app_context(), app.extensions["shequ"].db.session_scope() as session:
        accounts = accounts_for_person(session, pid)
    assert [a.id for a in accounts] == [user.id]
    assert accounts[0].person_id == pid and accounts[0].is_verified


def test_fuzz_api_passes_a_sound_api(make_app):
    pytest.importorskip("shequ_hello")
    app = make_app(plugins=["hello"])
    assert_api_fuzzes(app, "/api/v1/hello", max_examples=10)


def test_fuzz_api_finds_a_planted_500(make_app):
    def register_api(api):
        bp = ApiBlueprint("buggy_api", __name__)

        @bp.route("/things")
        @bp.response(200)
        def things():
            raise RuntimeError("planted")

        return [bp]

    plugin = type("Buggy", (), {
        "info": PluginInfo(id="buggy", version="1.0", title="Buggy"),
        "register_api": staticmethod(hookimpl(register_api)),
    })()
    app = make_app(plugins=["buggy"], extra={"buggy": plugin})
    failures = fuzz_api(app, "/api/v1/buggy", max_examples=5, role=None)
    assert failures and "GET /api/v1/buggy/things" in failures[0]
    assert fuzz_api(app, "/api/v1/nothing-here", role=None)  # no operations is a failure


# ------------------------------------------------------------------ shequ run --dev


SHEQU = str(Path(sys.executable).parent / "shequ")

DEV_PLUGIN = '''
from flask import Blueprint, render_template

from core.hookspecs import PluginInfo, hookimpl

info = PluginInfo(id="devplug", version="0.1", title="Dev")
bp = Blueprint("devplug", __name__, template_folder="templates")


@bp.route("/")
def index():
    return render_template("devplug/index.html", word="alpha")


@hookimpl
def register_blueprints(app):
    return [bp]
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, *, until: str | None = None, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # loopback only
                last = resp.read().decode()
            if until is None or until in last:
                return last
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never answered {until!r}; last: {last!r}")


def _dev_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "SHEQU__APP__INSTANCE_PATH": str(tmp_path / "instance"),
            "SHEQU__PLUGINS__ENABLED": "[]", "SHEQU__APP__DEMO_DATA": "false",
            "SHEQU_CONFIG": "", **extra}


def test_run_dev_reloads_templates_and_code_of_a_plugin_given_on_the_command_line(tmp_path):
    pkg = tmp_path / "devplug"
    (pkg / "templates" / "devplug").mkdir(parents=True)
    (pkg / "__init__.py").write_text(DEV_PLUGIN)
    template = pkg / "templates" / "devplug" / "index.html"
    template.write_text("<p>template one {{ word }}</p>")
    port = _free_port()
    proc = subprocess.Popen([SHEQU, "run", "--dev", "--plugin", str(pkg), "--port", str(port)],
                            cwd=tmp_path, env=_dev_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/devplug/"
    try:
        assert "template one alpha" in _get(url, until="template one")
        template.write_text("<p>template two {{ word }}</p>")
        assert "template two alpha" in _get(url, until="template two")  # no restart needed
        time.sleep(1.1)  # the stat reloader compares modification times
        (pkg / "__init__.py").write_text(DEV_PLUGIN.replace('"alpha"', '"beta"'))
        assert "template two beta" in _get(url, until="beta")  # restarted on the change
    finally:
        os.killpg(proc.pid, 15)
        out = proc.communicate(timeout=20)[0].decode()
    assert "Detected change" in out, out


def test_plugin_option_is_refused_in_production(tmp_path):
    (tmp_path / "devplug").mkdir()
    (tmp_path / "devplug" / "__init__.py").write_text(DEV_PLUGIN)
    env = _dev_env(tmp_path, SHEQU__APP__ENV="production", SHEQU_SECRET_KEY="k" * 40,
                   SHEQU__MESSAGING__SMS="none", SHEQU__MESSAGING__EMAIL="none")
    result = subprocess.run([SHEQU, "run", "--plugin", "devplug"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--plugin is for development only" in result.stderr
    result = subprocess.run([SHEQU, "run", "--plugin", "no_such_module"], cwd=tmp_path,
                            env=_dev_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot import 'no_such_module'" in result.stderr


# ------------------------------------------------------------------ gunicorn control socket


def test_each_instance_has_its_own_control_socket(make_app):
    from core.server import control_socket_options

    one, two = make_app(plugins=[]), make_app(plugins=[])
    a, b = control_socket_options(one), control_socket_options(two)
    assert a["control_socket"] == str(Path(one.instance_path) / "gunicorn.ctl")
    assert a["control_socket"] != b["control_socket"]
    assert a["control_socket_mode"] == 0o600


def test_a_path_too_long_for_a_socket_means_no_control_socket(make_app, monkeypatch):
    from core.server import _supported, control_socket_options

    app = make_app(plugins=[])
    monkeypatch.setattr(app, "instance_path", "/tmp/" + "x" * 120)
    assert control_socket_options(app) == {"control_socket_disable": True}
    assert _supported({"control_socket_disable": True, "no_such_setting": 1}) == {
        "control_socket_disable": True}


# ------------------------------------------------------------------ CSRF before sign-in


def test_signed_out_post_csrf_decision(make_app):
    """Issue 22, point 9 (decided, docs/plugin-guide.md §6): on the API a signed-out POST
    has no session to ride on and gets the endpoint's 401; on pages the CSRF check comes
    first, signed in or not (the sign-in form itself is a signed-out POST), so a POST
    without the form's token is a 400 before any redirect to the sign-in page."""
    app = make_app(plugins=[])
    client = app.test_client()
    resp = client.post("/api/v1/identity/tokens", json={})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "unauthenticated"
    resp = client.post("/lang/en")
    assert resp.status_code == 400


def test_gunicorn_listens_on_the_instance_control_socket(tmp_path):
    """A real ``shequ run``: gunicorn's control socket is the instance's own."""
    port = _free_port()
    env = _dev_env(tmp_path, SHEQU__SERVER__WORKERS="1")
    proc = subprocess.Popen([SHEQU, "run", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    ctl = tmp_path / "instance" / "gunicorn.ctl"
    try:
        deadline = time.monotonic() + 40
        while not ctl.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert ctl.is_socket()
        assert oct(ctl.stat().st_mode & 0o777) == "0o600"
    finally:
        os.killpg(proc.pid, 15)
        out = proc.communicate(timeout=30)[0].decode()
    assert f"Control socket listening at {ctl}" in out, out[-2000:]
