"""``shequ surveillance ...``: the periodic jobs on demand. ``shequ worker`` runs them on
a clock (``register_jobs``: check every ``jobs_interval_seconds``, purge hourly)."""

from __future__ import annotations

import click

from core.toolkit import pass_ctx


@click.group()
def surveillance() -> None:
    """Safety: camera checks, early warning and footage retention."""


@surveillance.command("check")
@pass_ctx
def check_cmd(ctx) -> None:
    """Mark silent cameras offline (with a maintenance alert) and evaluate the rules."""
    from plugins.surveillance.jobs import check

    with ctx.app.app_context():
        click.echo(check(ctx.app))


@surveillance.command("purge")
@pass_ctx
def purge_cmd(ctx) -> None:
    """Delete footage references and photos past retention, except under legal hold."""
    from plugins.surveillance.jobs import purge

    with ctx.app.app_context():
        click.echo(purge(ctx.app))
