"""``shequ matters ...``: departments' members, escalation and erasure, by the same
services as the pages and the API."""

from __future__ import annotations

import click

from core.toolkit import find_account, pass_ctx


@click.group()
def matters() -> None:
    """Government matters: department members, escalation, caller data."""


@matters.command("escalate")
@pass_ctx
def escalate(ctx) -> None:
    """Escalate overdue matters now (``shequ worker`` does it every 15 minutes)."""
    from plugins.matters.jobs import escalate as job

    with ctx.app.app_context():
        click.echo(job(ctx.app))


@matters.command("erase-caller-data")
@pass_ctx
def erase_caller_data(ctx) -> None:
    """Erase unregistered callers' names and phones past the retention period now."""
    from plugins.matters.jobs import erase_caller_data as job

    with ctx.app.app_context():
        click.echo(job(ctx.app))


@matters.command("add-member")
@click.argument("department")
@click.argument("username")
@pass_ctx
def add_member(ctx, department: str, username: str) -> None:
    """Make the staff account USERNAME a member of DEPARTMENT (its code)."""
    from plugins.matters.services import MatterError
    from plugins.matters.services import add_member as add

    with ctx.app.app_context(), ctx.kernel.db.session_scope() as session:
        account = find_account(session, username)
        if account is None:
            raise click.ClickException(f"no account {username!r}")
        try:
            add(session, department, account.id)
        except MatterError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{username} is a member of {department}")


@matters.command("remove-member")
@click.argument("department")
@click.argument("username")
@pass_ctx
def remove_member(ctx, department: str, username: str) -> None:
    """Remove USERNAME from DEPARTMENT."""
    from plugins.matters.services import MatterError
    from plugins.matters.services import remove_member as remove

    with ctx.app.app_context(), ctx.kernel.db.session_scope() as session:
        account = find_account(session, username)
        if account is None:
            raise click.ClickException(f"no account {username!r}")
        try:
            remove(session, department, account.id)
        except MatterError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{username} removed from {department}")
