"""The ``shequ`` command line.

Every command builds the app through ``create_app`` so it sees exactly the config, plugins
and database the server would; configuration and plugin errors end the command with the
readable message and exit status 2, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

import click
from flask import Flask

from core.config import ConfigError, load_config
from core.plugins import PluginError


class AppContext:
    """Builds the app once per command invocation, on first use."""

    def __init__(self) -> None:
        self._app: Flask | None = None

    @property
    def app(self) -> Flask:
        if self._app is None:
            from core.app import create_app
            from core.events import EventError

            try:
                self._app = create_app(load_config())
            except (ConfigError, PluginError, EventError) as exc:
                click.echo(str(exc), err=True)
                sys.exit(2)
        return self._app

    @property
    def kernel(self) -> Any:
        return self.app.extensions["shequ"]


pass_ctx = click.make_pass_decorator(AppContext, ensure=True)


class ShequGroup(click.Group):
    """Adds the commands plugins register, loading the app only when a command is not one
    of core's (so ``shequ --help`` and config errors stay fast and readable)."""

    def _plugin_commands(self) -> str:
        """Register plugins' commands once; return the start-up error, if any, so that a
        plugin command that went missing is explained instead of "No such command"."""
        if hasattr(self, "_plugins_error"):
            return self._plugins_error
        self._plugins_error = ""
        try:
            from core.app import create_app

            app = create_app(load_config())
        except (ConfigError, PluginError) as exc:
            self._plugins_error = str(exc)
            return self._plugins_error
        app.extensions["shequ"].plugins.call_ordered("register_commands", cli=self)
        return ""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        cmd = super().get_command(ctx, name)
        if cmd is None:
            error = self._plugin_commands()
            cmd = super().get_command(ctx, name)
            if cmd is None and error:
                click.echo(
                    f"'{name}' may be a plugin command, but plugins did not load:\n{error}",
                    err=True,
                )
                ctx.exit(2)
        return cmd

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._plugin_commands()
        return super().list_commands(ctx)


@click.group(cls=ShequGroup)
def main() -> None:
    """Shequ (社区): community informatization platform."""


# ------------------------------------------------------------------------------ run


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default: server.host).")
@click.option("--port", default=None, type=int, help="Port (default: server.port).")
@click.option(
    "--workers", default=None, type=int, help="gunicorn workers (default: server.workers)."
)
@click.option("--dev", is_flag=True, help="Flask's development server with reloading.")
@pass_ctx
def run(
    ctx: AppContext, host: str | None, port: int | None, workers: int | None, dev: bool
) -> None:
    """Serve the platform (gunicorn; --dev for the Flask development server)."""
    config = ctx.kernel.config
    host = host or config.server["host"]
    port = port or config.server["port"]
    workers = workers or config.server["workers"]
    if config.database_url.startswith("sqlite") and config.events["delivery"] == "thread":
        # One process keeps SQLite writers and the delivery thread in one place.
        workers = 1 if workers > 1 and not dev else workers
    click.echo(f"Shequ is serving on http://{host}:{port}/  (Ctrl+C stops it)")
    if dev:
        ctx.app.run(host=host, port=port, debug=False, use_reloader=True)
        return
    from core.server import serve

    serve(ctx.app, host=host, port=port, workers=workers, timeout=config.server["timeout"])


# ------------------------------------------------------------------------------ db


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(ctx: AppContext) -> None:
    """Migrate core, then every enabled plugin, to their latest revision."""
    from core import migrate

    trees = migrate.trees_for(ctx.kernel.plugins)
    migrate.upgrade(ctx.kernel.db.engine, trees, echo=click.echo)
    click.echo(f"database is up to date ({len(trees)} migration trees)")


@db.command("current")
@pass_ctx
def db_current(ctx: AppContext) -> None:
    """Show each migration tree's revision and whether it is at head."""
    from core import migrate

    state = migrate.current(ctx.kernel.db.engine, migrate.trees_for(ctx.kernel.plugins))
    for owner, (cur, heads) in state.items():
        mark = "head" if cur == heads else "PENDING"
        click.echo(f"{owner:<18} {', '.join(sorted(cur)) or '(empty)':<16} {mark}")


@db.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--plugin", default="core", help="Tree to add the revision to (default: core).")
@click.option("--empty", is_flag=True, help="Do not autogenerate from the models.")
@pass_ctx
def db_revision(ctx: AppContext, message: str, plugin: str, empty: bool) -> None:
    """Write a new migration (for developers), autogenerated from the models."""
    from core import migrate

    trees = {t.owner: t for t in migrate.trees_for(ctx.kernel.plugins)}
    if plugin not in trees:
        raise click.UsageError(f"no migration tree '{plugin}'; have: {', '.join(trees)}")
    migrate.revision(ctx.kernel.db.engine, trees[plugin], message, autogenerate=not empty)


@db.command("backup")
@click.argument("target", type=click.Path(dir_okay=False))
@pass_ctx
def db_backup(ctx: AppContext, target: str) -> None:
    """Write a consistent backup to TARGET while the app keeps running (SQLite: online
    backup API; PostgreSQL: pg_dump --format=custom)."""
    from core.backup import BackupError, backup

    try:
        path = backup(ctx.kernel.db.engine, target)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backup written to {path} ({path.stat().st_size:,} bytes)")


@db.command("restore")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def db_restore(ctx: AppContext, source: str, yes: bool) -> None:
    """Replace the database's contents with the backup SOURCE. Stop the app and the
    workers first."""
    from core.backup import BackupError, restore

    if not yes:
        click.confirm(f"Replace everything in {ctx.kernel.db.engine.url.render_as_string()} "
                      f"with {source}?", abort=True)
    try:
        restore(ctx.kernel.db.engine, source)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored from {source}; run `shequ db check` to compare with the original")


@db.command("check")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def db_check(ctx: AppContext, as_json: bool) -> None:
    """Row count and checksum per table: equal output means equal contents (compare a
    restored instance with the original)."""
    from core.backup import fingerprint

    prints = fingerprint(ctx.kernel.db.engine)
    if as_json:
        click.echo(json.dumps(prints, indent=1, sort_keys=True))
        return
    for table, fp in prints.items():
        click.echo(f"{table:<40} {fp['rows']:>10,}  {fp['sha256'][:16]}")
    total = hashlib.sha256(json.dumps(prints, sort_keys=True).encode()).hexdigest()
    click.echo(f"{len(prints)} tables, {sum(f['rows'] for f in prints.values()):,} rows, "
               f"overall {total[:16]}")


# ------------------------------------------------------------------------------ plugins


@main.group()
def plugins() -> None:
    """Installed and enabled plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_list(as_json: bool) -> None:
    """Each plugin: id, version, status, hooks, permissions, data scopes."""
    from core.app import create_app
    from core.config import Config
    from core.plugins import discover
    from core.web.views import plugin_rows

    try:
        config: Config = load_config()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    config.plugins_strict = False  # show failures instead of refusing to list
    try:
        app = create_app(config)
    except PluginError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    kernel = app.extensions["shequ"]
    rows = plugin_rows(kernel)
    for pid in sorted(set(discover()) - set(kernel.plugins.records)):
        rows.append(
            {
                "id": pid,
                "version": "",
                "status": "installed, not enabled",
                "error": "",
                "hooks": [],
                "permissions": [],
                "data_scopes": [],
                "depends": [],
            }
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        click.echo(f"{r['id']}  {r['version']}  [{r['status']}]")
        if r["error"]:
            click.echo(f"    error: {r['error']}")
        if r["hooks"]:
            click.echo(f"    hooks: {', '.join(r['hooks'])}")
        if r["permissions"]:
            click.echo(f"    permissions: {', '.join(r['permissions'])}")
        if r["data_scopes"]:
            click.echo(f"    data scopes: {', '.join(r['data_scopes'])}")
    if kernel.plugins.failed:
        sys.exit(1)


# ------------------------------------------------------------------------------ config


@main.group("config")
def config_group() -> None:
    """Configuration."""


@config_group.command("show")
def config_show() -> None:
    """Print the effective configuration (file + environment), secrets redacted."""
    try:
        config = load_config()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    click.echo(
        f"# from {config.source}"
        + (" + environment" if any(k.startswith("SHEQU__") for k in os.environ) else "")
    )
    click.echo(_toml(config.as_dict(redact=True)))


def _toml(data: dict[str, Any], prefix: str = "") -> str:
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    lines = []
    if prefix and scalars:
        lines.append(f"[{prefix}]")
    lines += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in scalars.items()]
    for key, value in tables.items():
        if lines:
            lines.append("")
        lines.append(_toml(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ demo


@main.command()
@pass_ctx
def demo(ctx: AppContext) -> None:
    """Load the demo data (idempotent): demo accounts, then each plugin's seed."""
    from core.demo import seed

    if not ctx.kernel.config.app["demo_data"]:
        click.echo("demo data is switched off (app.demo_data = false); nothing loaded")
        return
    with ctx.app.app_context():
        accounts = seed(ctx.app, echo=click.echo)
    if accounts:
        click.echo("demo accounts (username / password):")
        for role, (username, password) in accounts.items():
            click.echo(f"  {role:<18} {username:<14} {password}")


# ------------------------------------------------------------------------------ jobs


@main.group()
def jobs() -> None:
    """Periodic jobs (run by `shequ worker`; here, on demand)."""


@jobs.command("list")
@pass_ctx
def jobs_list(ctx: AppContext) -> None:
    """Every job the enabled plugins declare, with its period."""
    if not ctx.kernel.jobs:
        click.echo("no periodic jobs")
    for name, job in sorted(ctx.kernel.jobs.items()):
        click.echo(f"{name:<40} every {job.every:>8,.0f}s  {job.doc}")


@jobs.command("run")
@click.argument("name")
@pass_ctx
def jobs_run(ctx: AppContext, name: str) -> None:
    """Run job NAME now (skipped if another process is running it)."""
    from core.jobs import run_job

    job = ctx.kernel.jobs.get(name)
    if job is None:
        raise click.UsageError(f"no job '{name}'; have: {', '.join(sorted(ctx.kernel.jobs))}")
    ran, summary = run_job(ctx.app, job)
    click.echo(summary or "done" if ran else f"{name} is running in another process; skipped")


from core.events.cli import events, worker  # noqa: E402

main.add_command(events)
main.add_command(worker)

from core.registry.cli import registry as registry_cli  # noqa: E402

main.add_command(registry_cli)

from core.exchange.cli import exchange  # noqa: E402
from core.identity.cli import audit, token, user  # noqa: E402

main.add_command(token)
main.add_command(user)
main.add_command(audit)
main.add_command(exchange)
