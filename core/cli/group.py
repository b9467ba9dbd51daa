"""The ``shequ`` group: core's commands, plus the commands enabled plugins register.

Plugins' commands come from the ``register_commands`` hook, called on the invocation's app
(:class:`~core.cli.context.AppContext`): the group asks for them only when it needs them —
``shequ --help`` (to list them) or a name that is not one of core's — so ``shequ db
upgrade`` or a configuration error never waits for a plugin. Each plugin's commands are
collected on a scratch group, per invocation, never added to the global one, so two
invocations in one process (tests) with different plugins enabled do not see each other's.

Naming rule (docs/hooks.md, ``register_commands``): a plugin adds one group named after its
id. A plugin that adds a single command under another name gets it registered under its
id anyway, and the old name keeps working with a note (``shequ self-governance ...`` →
``shequ self_governance ...``). A name core already uses, or an earlier plugin took, is not
registered, with a warning: a plugin cannot shadow ``shequ db``.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from core.cli.context import AppContext
from core.current import kernel_of

log = logging.getLogger("shequ.cli")


def collect_plugin_commands(
    kernel: Any, taken: set[str]
) -> tuple[dict[str, click.Command], dict[str, str]]:
    """``(commands by name, {old name: plugin id})`` from every enabled plugin's
    ``register_commands``, in plugin order; names in ``taken`` (core's) are refused."""
    commands: dict[str, click.Command] = {}
    aliases: dict[str, str] = {}
    for pid, call in kernel.plugins.each_impl("register_commands"):
        scratch = click.Group(pid)
        call(cli=scratch)
        added = dict(scratch.commands)
        if len(added) == 1 and pid not in added:
            ((old, command),) = added.items()
            aliases[old] = pid
            added = {pid: command}
        elif len(added) > 1 and pid not in added:
            log.warning("plugin %s adds commands %s; the rule is one group named '%s'",
                        pid, ", ".join(sorted(added)), pid)
        for name, command in added.items():
            if name in taken or name in commands:
                log.warning("plugin %s: command name '%s' is taken; not registered", pid, name)
                continue
            commands[name] = command
    return commands, {old: pid for old, pid in aliases.items() if old not in taken}


class ShequGroup(click.Group):
    """Core's commands, then the plugins': the app is built at most once per invocation
    and shared with the command that runs (``ctx.obj``, an :class:`AppContext`)."""

    def _plugins(self, ctx: click.Context) -> AppContext:
        state = ctx.ensure_object(AppContext)
        if state.plugin_commands is None:
            state.plugin_commands = {}
            app = state.load()
            if app is not None:
                state.plugin_commands, state.plugin_aliases = collect_plugin_commands(
                    kernel_of(app), set(self.commands)
                )
        return state

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        ctx.ensure_object(AppContext)  # one per invocation, for every command below
        cmd = super().get_command(ctx, name)
        if cmd is not None:
            return cmd
        state = self._plugins(ctx)
        assert state.plugin_commands is not None
        if name in state.plugin_aliases:
            new = state.plugin_aliases[name]
            click.echo(f"note: `shequ {name}` is now `shequ {new}` (plugin commands are "
                       "named by plugin id)", err=True)
            name = new
        cmd = state.plugin_commands.get(name)
        if cmd is None and state.error:
            click.echo(
                f"'{name}' may be a plugin command, but plugins did not load:\n{state.error}",
                err=True,
            )
            ctx.exit(2)
        return cmd

    def list_commands(self, ctx: click.Context) -> list[str]:
        plugin_commands = self._plugins(ctx).plugin_commands or {}
        return sorted(set(super().list_commands(ctx)) | set(plugin_commands))


__all__ = ["ShequGroup", "collect_plugin_commands"]
