"""``shequ events ...`` and ``shequ worker`` (placeholder until the delivery engine lands)."""

from __future__ import annotations

import click


@click.group()
def events() -> None:
    """Event deliveries and dead letters."""


@click.command()
def worker() -> None:
    """Deliver events from the outbox."""
