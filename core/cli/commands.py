"""Core's own commands: ``run``, ``db ...``, ``plugins list``, ``config show``, ``demo``,
``jobs ...``. The areas' commands live beside their code (``core/events/cli.py``,
``core/identity/cli.py``, ``core/registry/cli.py``, ``core/exchange/cli.py``); the group in
``core.cli`` gathers them all.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

import click

from core.cli.context import AppContext, pass_ctx
from core.config import ConfigError, load_config

# ------------------------------------------------------------------------------ run


@click.command()
@click.option("--host", default=None, help="Interface to listen on (default: server.host).")
@click.option("--port", default=None, type=int, help="Port (default: server.port).")
@click.option(
    "--workers", default=None, type=int, help="gunicorn workers (default: server.workers)."
)
@click.option("--dev", is_flag=True,
              help="Development server: restarts on code changes, re-reads templates, "
                   "applies pending migrations. Debugger only with app.env = development.")
@click.option("--plugin", "plugin_modules", multiple=True, metavar="MODULE",
              help="Also enable the plugin in MODULE (importable name, or a package "
                   "directory), without installing it; repeatable. Development only.")
@pass_ctx
def run(
    ctx: AppContext, host: str | None, port: int | None, workers: int | None, dev: bool,
    plugin_modules: tuple[str, ...],
) -> None:
    """Serve the platform (gunicorn; --dev for the development server with reloading)."""
    if plugin_modules:
        ctx.dev_plugins = _dev_plugins(plugin_modules)
    if dev and not _in_reloader_child():
        _dev_supervisor(host, port)  # restarts the child whenever code changes; returns
        return                                                      # when it is stopped
    config = ctx.kernel.config
    host = host or config.server["host"]
    port = port or config.server["port"]
    workers = workers or config.server["workers"]
    if config.database_url.startswith("sqlite") and config.events["delivery"] == "thread":
        # One process keeps SQLite writers and the delivery thread in one place.
        workers = 1 if workers > 1 and not dev else workers
    if dev:
        _serve_dev(ctx, host, port)
        return
    click.echo(f"Shequ is serving on http://{host}:{port}/  (Ctrl+C stops it)")
    from core.server import serve, worker_threads

    serve(ctx.app, host=host, port=port, workers=workers, timeout=config.server["timeout"],
          threads=worker_threads(config.server.get("threads"), workers))


def _dev_plugins(specs: tuple[str, ...]) -> dict[str, Any]:
    """``{id: module}`` for ``--plugin`` values: an importable module name
    (``shequ_library``, ``mypkg.plugin``) or a package directory (``./shequ_library``),
    imported from the current directory like ``python -m`` would. Refused in production:
    a plugin that is not installed has no version a deployment could pin."""
    import importlib
    from pathlib import Path

    try:
        env = load_config().app["env"]
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if env == "production":
        raise click.UsageError("--plugin is for development only; app.env is production. "
                               "Install the plugin and list it in [plugins] enabled.")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    found: dict[str, Any] = {}
    for spec in specs:
        name = spec
        path = Path(spec)
        if path.is_dir() or spec.endswith(".py"):
            path = path.resolve()
            if str(path.parent) not in sys.path:
                sys.path.insert(0, str(path.parent))
            name = path.stem if path.suffix == ".py" else path.name
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise click.BadParameter(f"cannot import {spec!r}: {exc}",
                                     param_hint="--plugin") from None
        info = getattr(module, "info", None)
        pid = getattr(info, "id", None)
        if not isinstance(pid, str):
            raise click.BadParameter(f"{spec!r} ({getattr(module, '__file__', None)}) has no "
                                     "'info = PluginInfo(...)'", param_hint="--plugin")
        found[pid] = module
    return found


def _in_reloader_child() -> bool:
    return os.environ.get("WERKZEUG_RUN_MAIN") == "true"


def _dev_supervisor(host: str | None, port: int | None) -> None:
    """The parent of ``shequ run --dev``: werkzeug's reloader re-runs this command in a child
    and starts a new child whenever the old one exits because a source file changed. The
    parent builds no app (so a start-up costs one ``create_app``, in the child), but checks
    the configuration first so a mistake is reported once, not on every restart."""
    from werkzeug.serving import run_simple

    try:
        config = load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    host = host or config.server["host"]
    port = port or config.server["port"]
    click.echo(f"Shequ (development) is serving on http://{host}:{port}/  "
               "(restarts on code changes; Ctrl+C stops it)")
    # The parent binds the port once (every child inherits the socket, so a restart never
    # refuses a connection) and only supervises: its placeholder app never serves.
    run_simple(host, port, _placeholder, use_reloader=True, reloader_type="stat")


def _placeholder(environ: Any, start_response: Any) -> list[bytes]:  # pragma: no cover
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


def _serve_dev(ctx: AppContext, host: str, port: int) -> None:
    """The child of ``shequ run --dev``: apply pending migrations (a plugin under
    development just added a revision), re-read templates on every render, watch the
    enabled plugins' templates and translations too, and serve with werkzeug's reloader
    loop watching the imported modules."""
    from werkzeug.serving import run_simple

    from core import migrate

    app = ctx.app
    kernel = ctx.kernel
    debug = kernel.config.app["env"] == "development"
    if not kernel.config.is_production:
        migrate.upgrade(kernel.db.engine, migrate.trees_for(kernel.plugins))
    app.config["TEMPLATES_AUTO_RELOAD"] = True
    app.jinja_env.auto_reload = True
    app.debug = debug
    run_simple(host, port, app, use_reloader=True, use_debugger=debug, threaded=True,
               reloader_type="stat", extra_files=_watched_files(kernel))


def _watched_files(kernel: Any) -> list[str]:
    """Besides imported modules (watched by the reloader itself): every enabled plugin's
    catalogues and migration revisions, which are read once at start-up."""
    from pathlib import Path

    files: list[str] = []
    for record in kernel.plugins.loaded:
        root = Path(getattr(record.module, "__file__", "") or "").parent
        if not root.name:
            continue
        for pattern in ("translations/*/LC_MESSAGES/*.mo", "migrations/versions/*.py"):
            files += [str(f) for f in root.glob(pattern)]
    return files


# ------------------------------------------------------------------------------ db


@click.group()
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
@click.option("--with-columns", is_flag=True,
              help="List each table's columns too (for a later --columns-of).")
@click.option("--columns-of", "columns_of", type=click.File("r"), default=None,
              help="A --with-columns --json output: hash only the tables and columns it "
                   "lists (after an upgrade: is what the old release stored unchanged?).")
@pass_ctx
def db_check(ctx: AppContext, as_json: bool, with_columns: bool, columns_of: Any) -> None:
    """Row count and checksum per table: equal output means equal contents (compare a
    restored instance with the original)."""
    from core.backup import fingerprint, table_columns

    engine = ctx.kernel.db.engine
    if columns_of is not None:
        try:
            earlier = json.load(columns_of)
            columns = {t: list(fp["columns"]) for t, fp in earlier.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise click.ClickException(
                f"{columns_of.name} is not the output of `shequ db check --json "
                "--with-columns`") from None
        prints = fingerprint(engine, columns)
    else:
        prints = fingerprint(engine)
        if with_columns:
            for table, names in table_columns(engine).items():
                prints[table]["columns"] = names
    if as_json:
        click.echo(json.dumps(prints, indent=1, sort_keys=True))
        return
    for table, fp in prints.items():
        click.echo(f"{table:<40} {fp['rows']:>10,}  {fp['sha256'][:16]}")
    total = hashlib.sha256(json.dumps(prints, sort_keys=True).encode()).hexdigest()
    click.echo(f"{len(prints)} tables, {sum(f['rows'] for f in prints.values()):,} rows, "
               f"overall {total[:16]}")


# ------------------------------------------------------------------------------ plugins


@click.group("plugin")
def plugin_group() -> None:
    """Develop a plugin: ``shequ plugin new NAME``."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True,
              type=click.Path(file_okay=False),
              help="Where to create the project folder shequ-NAME.")
def plugin_new(name: str, directory: str) -> None:
    """Write a working, tested plugin NAME to start from (docs/plugin-guide.md)."""
    from core.scaffold import ScaffoldError, create, names

    try:
        root = create(name, directory)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    pkg = names(name)["__pkg__"]
    click.echo(f"created {root}  (plugin '{name}', package {pkg})")
    click.echo(f"  cd {root}")
    click.echo("  pytest                               # its tests pass as generated")
    click.echo(f"  shequ run --dev --plugin {pkg}    # try it: /{name.replace('_', '-')}/")
    click.echo(f"  pip install -e .                     # then add \"{name}\" to "
               "[plugins] enabled, shequ db upgrade")


@click.group()
def plugins() -> None:
    """Installed and enabled plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_ctx
def plugins_list(ctx: AppContext, as_json: bool) -> None:
    """Each plugin: id, version, status, hooks, permissions, data scopes."""
    from core.plugins import discover
    from core.web.views import plugin_rows

    ctx.strict = False  # show failures instead of refusing to list
    kernel = ctx.kernel
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


@click.group("config")
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


@click.command()
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


@click.group()
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


__all__ = ["config_group", "db", "demo", "jobs", "plugins", "run"]
