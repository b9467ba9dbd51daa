"""The ``shequ`` command line, run as a real subprocess like an operator would."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.hookspecs import PluginInfo, hookimpl

SHEQU = str(Path(sys.executable).parent / "shequ")


@pytest.fixture
def cli_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHEQU")}
    env["SHEQU__APP__INSTANCE_PATH"] = str(tmp_path / "instance")
    env["SHEQU__APP__ENV"] = "test"
    if os.environ.get("SHEQU_TEST_DATABASE_URL"):
        from core.testing import _postgres_schema_url

        url, drop = _postgres_schema_url(os.environ["SHEQU_TEST_DATABASE_URL"])
        env["SHEQU__DATABASE__URL"] = url
        yield env
        drop()
    else:
        yield env


def shequ(env, *args, timeout=120):
    return subprocess.run(
        [SHEQU, *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def test_db_upgrade_current_and_demo_are_idempotent(cli_env):
    first = shequ(cli_env, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "migrating core" in first.stdout and "migrating surveillance" in first.stdout
    current = shequ(cli_env, "db", "current")
    assert current.returncode == 0
    assert "PENDING" not in current.stdout and "core" in current.stdout
    demo = shequ(cli_env, "demo")
    assert demo.returncode == 0, demo.stderr
    from core.demo import DEMO_ACCOUNTS

    assert f"{len(DEMO_ACCOUNTS)} created" in demo.stdout
    assert "admin" in demo.stdout and "jade-lantern-41" in demo.stdout
    again = shequ(cli_env, "demo")
    assert f"0 created, {len(DEMO_ACCOUNTS)} already there" in again.stdout


def test_plugins_list_shows_each_plugin(cli_env):
    result = shequ(cli_env, "plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert rows["commerce"]["status"] == "loaded"
    assert "nav_items" in rows["commerce"]["hooks"]
    assert "commerce.ticket.dispatch" in rows["commerce"]["permissions"]
    assert "registry.organisation" in rows["commerce"]["data_scopes"]
    assert rows["hello"]["status"] == "installed, not enabled"


def test_plugins_list_reports_a_broken_plugin_instead_of_failing(cli_env, tmp_path):
    env = dict(cli_env, SHEQU__PLUGINS__COMMERCE='{ colour = "red" }')
    result = shequ(env, "plugins", "list")
    assert result.returncode == 1
    assert "commerce" in result.stdout and "[failed]" in result.stdout
    assert "plugins.commerce.colour: unknown key" in result.stdout
    strict = shequ(env, "db", "upgrade")
    assert strict.returncode == 2
    assert "commerce: ValueError: invalid configuration: plugins.commerce.colour" in strict.stderr
    assert "Traceback" not in strict.stderr


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_serves_the_home_page_under_gunicorn(cli_env):
    assert shequ(cli_env, "db", "upgrade").returncode == 0
    port = free_port()
    proc = subprocess.Popen(
        [SHEQU, "run", "--host", "127.0.0.1", "--port", str(port)],
        env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.2)
        assert body is not None, "server did not answer"
        assert "政务服务" in body and "平安社区" in body
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert json.load(resp)["status"] == "ok"
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert f"http://127.0.0.1:{port}/" in out


def test_plugin_command_explains_why_it_is_missing(cli_env):
    env = dict(cli_env, SHEQU__PLUGINS__ENABLED='["hello"]', SHEQU__PLUGINS__HELLO="{ bogus = 1 }")
    result = shequ(env, "hello", "count")
    assert result.returncode == 2
    assert "plugins did not load" in result.stderr and "plugins.hello.bogus" in result.stderr


def test_demo_respects_the_demo_data_switch(cli_env):
    env = dict(cli_env, SHEQU__APP__DEMO_DATA="false")
    assert shequ(env, "db", "upgrade").returncode == 0
    result = shequ(env, "demo")
    assert result.returncode == 0 and "switched off" in result.stdout


def test_db_backup_restore_and_check(cli_env, tmp_path):
    """A backup restores to exactly the state it was taken in, table by table (row counts
    and checksums from ``shequ db check``), after later writes were made."""
    assert shequ(cli_env, "db", "upgrade").returncode == 0
    made = subprocess.run([SHEQU, "user", "create", "first", "--role", "admin",
                           "--password-stdin"], input="a-long-password-1\n",
                          capture_output=True, text=True, env=cli_env, timeout=120)
    assert made.returncode == 0, made.stderr
    before = json.loads(shequ(cli_env, "db", "check", "--json").stdout)
    assert before["identity_user"]["rows"] == 1
    target = tmp_path / "backup.db"
    out = shequ(cli_env, "db", "backup", str(target))
    assert out.returncode == 0, out.stderr
    assert target.stat().st_size > 0
    made = subprocess.run([SHEQU, "user", "create", "second", "--role", "admin",
                           "--password-stdin"], input="a-long-password-2\n",
                          capture_output=True, text=True, env=cli_env, timeout=120)
    assert made.returncode == 0, made.stderr
    changed = json.loads(shequ(cli_env, "db", "check", "--json").stdout)
    assert changed["identity_user"]["rows"] == 2 and changed != before
    out = shequ(cli_env, "db", "restore", "--yes", str(target))
    assert out.returncode == 0, out.stdout + out.stderr
    after = json.loads(shequ(cli_env, "db", "check", "--json").stdout)
    assert after == before
    # a file that is not a backup is refused with a reason, and nothing changes
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    out = shequ(cli_env, "db", "restore", "--yes", str(junk))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert json.loads(shequ(cli_env, "db", "check", "--json").stdout) == before


# ------------------------------------------------------------------------------ in process
# The group builds the app at most once per invocation and hands it to the command.


@pytest.fixture
def builds(monkeypatch, tmp_path):
    """Counts ``create_app`` calls made by the command line (config from the environment)."""
    import core.app

    for key in [k for k in os.environ if k.startswith("SHEQU")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SHEQU__APP__INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("SHEQU__APP__ENV", "test")
    monkeypatch.setenv("SHEQU__EVENTS__DELIVERY", "manual")
    real = core.app.create_app
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(core.app, "create_app", counting)
    return calls


def invoke(*args, obj=None):
    from click.testing import CliRunner

    from core.cli import main

    return CliRunner().invoke(main, list(args), obj=obj)


def test_help_builds_the_app_once_and_lists_plugin_commands(builds):
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    assert len(builds) == 1
    for name in ("db", "registry", "worker", "gov_services", "commerce", "surveillance"):
        assert f"  {name} " in result.output


def test_a_plugin_command_builds_the_app_once(builds):
    result = invoke("gov_services", "catalogue")
    assert result.exit_code == 0, result.output
    assert "longevity_allowance" in result.output
    assert len(builds) == 1


def test_core_commands_build_the_app_only_when_they_use_it(builds):
    assert invoke("config", "show").exit_code == 0
    assert invoke("db", "--help").exit_code == 0
    assert builds == []
    result = invoke("jobs", "list")
    assert result.exit_code == 0, result.output
    assert len(builds) == 1


def test_a_config_error_is_a_message_and_status_2_for_core_and_plugin_commands(builds,
                                                                              monkeypatch):
    monkeypatch.setenv("SHEQU__DATABASE__POOL_SIZE", '"many"')
    for args in (["jobs", "list"], ["gov_services", "catalogue"]):
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "database.pool_size" in result.output and "Traceback" not in result.output
    assert invoke("--help").exit_code == 0  # core's commands are still listed


class _Commands:
    """Registers one group under a name that is not its id, and tries to shadow ``db``."""

    def __init__(self, pid: str, extra: bool = False) -> None:
        self.info = PluginInfo(id=pid, version="1.0", title="Commands")
        self.extra = extra

    @hookimpl
    def register_commands(self, cli):
        import click

        @click.group("odd-name")
        def group() -> None:
            """A plugin's commands."""

        @group.command("hi")
        @click.pass_obj
        def hi(ctx) -> None:
            click.echo(f"hi from {sorted(ctx.kernel.plugins.records)}")

        cli.add_command(group)
        if self.extra:

            @click.group("db")
            def db() -> None:
                """Not core's."""

            cli.add_command(db)


def test_plugin_command_groups_are_registered_under_the_plugin_id(tmp_path):
    from core.cli import AppContext
    from core.testing import build_test_app

    plugin = _Commands("cmdprobe")
    app, cleanup = build_test_app(tmp_path, plugins=["cmdprobe"], extra={"cmdprobe": plugin},
                                  migrate=False)
    try:
        listed = invoke("--help", obj=AppContext(app))
        assert "  cmdprobe " in listed.output and "odd-name" not in listed.output
        result = invoke("cmdprobe", "hi", obj=AppContext(app))
        assert result.exit_code == 0, result.output
        assert "hi from ['cmdprobe']" in result.output
        old = invoke("odd-name", "hi", obj=AppContext(app))
        assert old.exit_code == 0 and "hi from" in old.stdout
        assert "`shequ odd-name` is now `shequ cmdprobe`" in old.stderr
    finally:
        cleanup()


def test_a_plugin_cannot_shadow_a_core_command(tmp_path):
    from core.cli import AppContext
    from core.testing import build_test_app

    plugin = _Commands("shadow", extra=True)
    app, cleanup = build_test_app(tmp_path, plugins=["shadow"], extra={"shadow": plugin},
                                  migrate=False)
    try:
        result = invoke("db", "--help", obj=AppContext(app))
        assert "Database migrations." in result.output and "Not core's" not in result.output
        assert invoke("odd-name", "hi", obj=AppContext(app)).exit_code == 0
    finally:
        cleanup()
