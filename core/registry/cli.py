"""``shequ registry ...``: import (and list, revert imports), export, template, demo data.

The group is added to the ``shequ`` command by ``core.cli``. Commands run as a system
actor named after the operating-system user: the access log then says who exported what,
even from a shell. Each command receives the invocation's :class:`~core.cli.context.AppContext` as
``ctx`` (``click.pass_obj``: the ``shequ`` group puts it in ``ctx.obj`` and builds the
app at most once); this module never imports ``core.cli``, which imports it.
"""

from __future__ import annotations

import getpass
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from core.cli.context import AppContext


@dataclass(frozen=True)
class _Scope:
    kind: str
    code: str


@dataclass(frozen=True)
class CliActor:
    """Whoever runs the command line: shell access to the server is district-level access
    already, so all scopes and the registry permissions; the name goes to the logs."""

    username: str
    id: int | None = None
    person_id: int | None = None
    permissions: frozenset[str] = frozenset(
        {"registry.person.read", "registry.person.reveal", "registry.import", "registry.export"}
    )
    scopes: tuple[_Scope, ...] = field(default=(_Scope("all", ""),))


def cli_actor() -> CliActor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return CliActor(username=f"cli:{user}"[:64])


def _ensure_events(kernel: Any) -> None:
    from core.registry.events import declare_registry_events

    declare_registry_events(kernel.bus)


@click.group()
def registry() -> None:
    """The resident registry: import, export, template, demo data."""


@registry.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Write the rejected rows (row, field, reason) to this CSV file.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default=None,
              help="Default: from the file name.")
@click.option("--community", default=None, metavar="CODE",
              help="The community (12-digit code) of every row, for a file without the "
                   "community column.")
@click.option("--blank-clears", is_flag=True,
              help="A blank cell clears the field of a registered person (default: a blank "
                   "cell, like a missing column, leaves the field as it is).")
@click.option("--correction", is_flag=True,
              help="A correction run: a registered document number under another name "
                   "changes the name (needs --reason, recorded with every change).")
@click.option("--reason", default="", help="Why (a correction run's reason, in the history).")
@click.pass_obj
def import_cmd(
    ctx: AppContext, file: str, dry_run: bool, report_path: str | None, fmt: str | None,
    community: str | None, blank_clears: bool, correction: bool, reason: str,
) -> None:
    """Import persons from a CSV or XLSX FILE (all or nothing; upsert by document number).

    An update writes only the columns the file has; a row whose document number is
    registered under another name is a conflict, rejected (a name change is a correction
    run: --correction --reason). --dry-run prints what each row would change. A
    committed import gets an id (``shequ registry imports``) and can be reverted
    (``shequ registry revert-import ID``)."""
    from core.registry.importer import (
        ImportFileError,
        ImportReport,
        RowError,
        estimate_rows,
        import_persons,
        write_report,
    )

    kernel = ctx.kernel
    _ensure_events(kernel)
    estimate = estimate_rows(file, fmt)
    with kernel.db.session_scope() as session, click.progressbar(
        length=max(estimate, 1), label="importing", file=sys.stderr
    ) as bar:
        try:
            report = import_persons(session, file, bus=kernel.bus, actor=cli_actor(),
                                    dry_run=dry_run, fmt=fmt, progress=bar.update,
                                    community=community, blank_clears=blank_clears,
                                    correction=correction, reason=reason, kernel=kernel)
        except ImportFileError as exc:
            # The file as a whole: one message (with how to fix it), in the report too.
            click.echo(f"\nthe file was not imported: {exc}", err=True)
            if report_path:
                refused = ImportReport(source=file, dry_run=dry_run)
                refused.rejected.append(RowError(1, exc.field or "file", str(exc)))
                write_report(refused, report_path)
                click.echo(f"report: {report_path}", err=True)
            sys.exit(2)
    click.echo(report.summary())
    if report.import_id is not None:
        click.echo(f"import {report.import_id} (revert: shequ registry revert-import "
                   f"{report.import_id})")
    for d in report.diffs:
        click.echo(f"row {d.row}: {d.action}" + (f" no. {d.person_id}" if d.person_id else "")
                   + "".join(f"\n  {f}: {_cell(old)} -> {_cell(new)}"
                             for f, old, new in d.changes))
    if report.diffs_capped:
        click.echo(f"(only the first {len(report.diffs)} rows with changes are listed; "
                   "--report FILE has the same)")
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    for e in report.rejected[:20]:
        click.echo(f"row {e.row}: {e.field}: {e.message}", err=True)
    if len(report.rejected) > 20:
        click.echo(f"... and {len(report.rejected) - 20} more", err=True)
    if report_path:
        write_report(report, report_path)
        click.echo(f"report: {report_path}")
    if report.indexes_rebuilt:
        click.echo("indexes were rebuilt after the load")
    click.echo(f"{report.total / max(report.seconds, 1e-9):,.0f} rows/s")
    if not report.ok:
        sys.exit(1)


def _cell(value: Any) -> str:
    return "(empty)" if value in (None, "") else str(value)


@registry.command("imports")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.pass_obj
def imports_cmd(ctx: AppContext, limit: int) -> None:
    """The newest committed imports: id, when, who, file, counts, reverted."""
    from core.registry.importer import list_imports

    with ctx.kernel.db.session_scope() as session:
        for r in list_imports(session, limit=limit):
            flags = " correction" if r.correction else ""
            flags += f" reverted {r.reverted_at:%Y-%m-%d %H:%M} by {r.reverted_by_name}" \
                if r.reverted_at else ""
            click.echo(f"{r.id}\t{r.at:%Y-%m-%d %H:%M}\t{r.actor_name}\t{r.source}\t"
                       f"created {r.created}, updated {r.updated}, unchanged "
                       f"{r.unchanged}{flags}" + (f"\treason: {r.reason}" if r.reason else ""))


@registry.command("revert-import")
@click.argument("import_id", type=int)
@click.option("--force", is_flag=True,
              help="Revert even though some persons changed since (those stay as they are).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def revert_import_cmd(ctx: AppContext, import_id: int, force: bool, yes: bool) -> None:
    """Revert import IMPORT_ID as a whole: changed fields back, created persons deleted."""
    from core.registry.errors import RegistryError
    from core.registry.importer import revert_import
    from core.registry.models import RegistryImport

    kernel = ctx.kernel
    _ensure_events(kernel)
    with kernel.db.session_scope() as session:
        record = session.get(RegistryImport, import_id)
        if record is None:
            click.echo(f"no import {import_id}", err=True)
            sys.exit(2)
        if not yes:
            click.confirm(f"Revert import {import_id} ({record.source}: created "
                          f"{record.created}, updated {record.updated})?", abort=True)
        try:
            report = revert_import(session, import_id, bus=kernel.bus, actor=cli_actor(),
                                   force=force, kernel=kernel)
        except RegistryError as exc:
            click.echo(str(exc), err=True)
            sys.exit(1)
    click.echo(f"import {import_id} reverted: {report.restored} persons restored, "
               f"{report.deleted_persons} deleted, {report.deleted_households} households "
               f"and {report.deleted_dwellings} dwellings deleted")
    for who in report.changed_since:
        click.echo(f"left as it is (changed since): {who}", err=True)


@registry.command("export")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--reveal", is_flag=True,
              help="Full ID numbers, phones and addresses (logged per person; needs --purpose).")
@click.option("--purpose", default="", help="Why the data is exported (goes to the access log).")
@click.option("--community", default=None, help="Only this community (12-digit code).")
@click.option("--status", default="active", show_default=True,
              help="Only persons with this status ('' for all).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Header language.")
@click.pass_obj
def export_cmd(ctx: AppContext, file: str, reveal: bool, purpose: str, community: str | None,
               status: str, lang: str) -> None:
    """Export persons to FILE (.csv or .xlsx), masked unless --reveal --purpose."""
    from core.registry.errors import RegistryError, ScopeError
    from core.registry.importer import export_persons

    if reveal and not purpose.strip():
        raise click.UsageError("--reveal needs --purpose: it is written to the access log")
    kernel = ctx.kernel
    with kernel.db.session_scope() as session:
        try:
            n = export_persons(session, file, actor=cli_actor(), reveal=reveal,
                               purpose=purpose, community=community, status=status or None,
                               lang=lang, via="cli")
        except (RegistryError, ScopeError) as exc:
            click.echo(str(exc), err=True)
            sys.exit(2)
    click.echo(f"exported {n} persons to {file}" + (" (revealed, logged)" if reveal else
                                                   " (masked)"))


@registry.command("template")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def template_cmd(file: str, lang: str) -> None:
    """Write an empty import template (.csv or .xlsx) with the headers in LANG."""
    from core.registry.importer import write_template

    write_template(file, lang=lang)
    click.echo(f"template: {file}")


@registry.command("demo")
@click.option("--persons", default=8000, show_default=True, type=click.IntRange(1, 5_000_000))
@click.option("--seed", default=None, type=int, help="Random seed (default: the demo's).")
@click.pass_obj
def demo_cmd(ctx: AppContext, persons: int, seed: int | None) -> None:
    """Fill an empty registry with a synthetic, deterministic population."""
    from sqlalchemy import select

    from core.demo import DEMO_ACCOUNTS
    from core.hookspecs import DemoContext
    from core.identity.models import User
    from core.registry.demo import DEMO_SEED, seed_registry

    kernel = ctx.kernel
    if kernel.config.is_production:
        click.echo("demo data is refused in production", err=True)
        sys.exit(2)
    _ensure_events(kernel)
    demo = DemoContext()
    with kernel.db.session_scope() as session:
        for role, (username, _pw) in DEMO_ACCOUNTS.items():
            user = session.scalar(select(User).where(User.username == username))
            if user is not None:
                demo.users[role] = user
        stats = seed_registry(session, demo, persons=persons,
                              seed=DEMO_SEED if seed is None else seed, bus=kernel.bus,
                              echo=lambda m: click.echo(m, err=True))
    click.echo(", ".join(f"{k} {v}" for k, v in stats.items()))


def _register_owners_import() -> None:
    from core.registry.owners_cli import import_owners_cmd

    registry.add_command(import_owners_cmd)


_register_owners_import()
