"""The ``shequ`` command line.

Every command works with the app ``create_app`` builds from the configuration, so it sees
exactly the config, plugins and database the server would; the app is built at most once
per invocation and handed to every command (:class:`~core.cli.context.AppContext`, in
``ctx.obj``). Configuration and plugin errors end the command with the readable message
and exit status 2, never a traceback.

The package: ``context`` (the app for one invocation; ``pass_ctx``), ``group`` (the
``shequ`` group and the plugins' commands), ``commands`` (core's own commands). The areas'
commands live beside their code and take the context from ``ctx.obj`` (``click.pass_obj``),
so they never import this package and it can import them at the top.
"""

from __future__ import annotations

import click

from core.cli.commands import config_group, db, demo, jobs, plugin_group, plugins, run
from core.cli.context import AppContext, pass_ctx
from core.cli.group import ShequGroup
from core.events.cli import events, worker
from core.exchange.cli import exchange
from core.identity.cli import audit, token, user
from core.registry.cli import registry


@click.group(cls=ShequGroup)
def main() -> None:
    """Shequ (社区): community informatization platform."""


for _command in (run, db, plugins, plugin_group, config_group, demo, jobs, events, worker,
                 registry, token, user, audit, exchange):
    main.add_command(_command)

__all__ = ["AppContext", "ShequGroup", "main", "pass_ctx"]
