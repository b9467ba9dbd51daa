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


@surveillance.command("frigate")
@pass_ctx
def frigate_cmd(ctx) -> None:
    """Turn Frigate's MQTT events and reviews into incidents until Ctrl+C or SIGTERM.

    Reads [plugins.surveillance.frigate] (broker, camera and label mappings, the account
    to ingest as); reconnects with back-off when the broker goes away.
    """
    import signal
    import threading
    import time

    from plugins.surveillance.frigate.worker import FrigateSetupError, FrigateWorker

    def say(line: str) -> None:
        click.echo(f"{time.strftime('%H:%M:%S')} {line}")

    try:
        worker = FrigateWorker(ctx.app, say=say)
    except FrigateSetupError as exc:
        raise click.ClickException(str(exc)) from None

    def on_signal(signum: int, _frame: object) -> None:
        say(f"{signal.Signals(signum).name}: disconnecting")
        worker.stop()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        worker.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
