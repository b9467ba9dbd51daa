"""``shequ registry import-owners FILE``: the owners import from the command line.

Kept apart from :mod:`core.registry.cli` (which registers it on the ``registry`` group
with ``registry.add_command(import_owners_cmd)``); :func:`run_import_owners` is the
testable body. Run as ``cli:<os user>``, the name the history rows carry."""

from __future__ import annotations

from typing import Any

import click


def run_import_owners(
    kernel: Any, file: str, *, community: str | None = None, dry_run: bool = False,
    fmt: str | None = None, actor: Any = None,
) -> tuple[int, list[str]]:
    """Import owners from ``file`` in one transaction: (exit code, output lines). A
    rejected row rolls everything back and lists every rejected row with its reason."""
    from core.registry.owners_import import import_owners

    with kernel.db.session_scope() as session:
        report = import_owners(session, file, fmt=fmt, community=community,
                               dry_run=dry_run, actor=actor, via="import")
        if report.rejected or dry_run:
            session.rollback()
        else:
            session.commit()
    lines = [f"row {n}: {col}: {msg}" for n, col, msg in report.rejected]
    lines.append(report.summary())
    return (1 if report.rejected else 0), lines


def _shell_user() -> Any:
    """Who runs the command, for the history rows (``cli:<os user>``); this module is in
    the registry layer and may not import :mod:`core.registry.cli` for its actor."""
    import getpass
    from types import SimpleNamespace

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return SimpleNamespace(id=None, username=f"cli:{user}"[:64])


@click.command("import-owners")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--community", default=None, metavar="CODE",
              help="The community of rows that do not name one.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default=None)
@click.option("--dry-run", is_flag=True, help="Check every row; write nothing.")
@click.pass_obj
def import_owners_cmd(ctx: Any, file: str, community: str | None, fmt: str | None,
                      dry_run: bool) -> None:
    """Import dwelling owners (and exclusive areas) from a CSV or XLSX FILE, all or
    nothing: columns building/unit/room or address, owner_id or credit_code, share,
    since, area_m2 (docs/registry.md, "Ownership")."""
    code, lines = run_import_owners(ctx.kernel, file, community=community, dry_run=dry_run,
                                    fmt=fmt, actor=_shell_user())
    for line in lines[:-1]:
        click.echo(line, err=True)
    click.echo(lines[-1])
    if code:
        raise SystemExit(code)
