"""``shequ hello ...``: the command line calls the same services as the page and the API."""

from __future__ import annotations

import click

from core.toolkit import pass_ctx


@click.group()
def hello() -> None:
    """Greetings (the example plugin)."""


@hello.command("send")
@click.argument("recipient")
@click.option("-m", "--message", default=None, help="Default: the configured greeting.")
@pass_ctx
def send(ctx, recipient: str, message: str | None) -> None:
    """Send a greeting from the command line (no sender account)."""
    from shequ_hello.services import GreetingError, send_greeting

    kernel = ctx.kernel
    text = message or kernel.plugins.settings("hello")["greeting"]
    try:
        with kernel.db.session_scope() as session:
            greeting = send_greeting(session, kernel.bus, sender_id=None,
                                     recipient=recipient, message=text)
    except GreetingError as exc:
        raise click.BadParameter(str(exc), param_hint=exc.field) from None
    click.echo(f"greeting {greeting.id} sent to {greeting.recipient}")


@hello.command("count")
@pass_ctx
def count(ctx) -> None:
    """How many greetings are stored."""
    from shequ_hello.services import count_greetings

    with ctx.kernel.db.session_scope() as session:
        click.echo(str(count_greetings(session)))
