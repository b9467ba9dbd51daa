"""The app one ``shequ`` invocation works with.

The group makes one :class:`AppContext` per invocation (``ctx.obj``) and every command
below it receives that same object: the group to find the plugins' commands, the command
to do its work. The app is built from the configuration on first use and only once, so a
plugin command costs one ``create_app``, not two, and core's commands that need no app
(``config show``) build none.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import Flask

from core.current import kernel_of


class AppContext:
    """Builds the app once per command invocation, on first use, and keeps it.

    Tests and embedders hand in an app they built (``AppContext(app)``, or set ``_app``
    as the 1.0 documentation showed) and pass the object as ``obj=`` to click's runner;
    then nothing is built from the configuration at all."""

    def __init__(self, app: Flask | None = None) -> None:
        self._app: Flask | None = app
        #: Why the app could not be built (the readable start-up error), once tried.
        self.error: str = ""
        #: The plugins' commands by name, collected by the ``shequ`` group (core.cli.group).
        self.plugin_commands: dict[str, click.Command] | None = None
        #: Old plugin command names → the plugin id they are registered under now.
        self.plugin_aliases: dict[str, str] = {}
        #: ``False``: a failing plugin is reported on the app instead of refusing to start
        #: (``shequ plugins list``); set it before the app is first used.
        self.strict: bool = True
        #: Plugins under development, ``{id: module}``, enabled on top of the configured
        #: ones (``shequ run --dev --plugin path.to.module``); set before first use.
        self.dev_plugins: dict[str, Any] = {}

    def load(self) -> Flask | None:
        """The app, built now if it was not yet; ``None`` when the configuration or a
        plugin failed, with the reason in :attr:`error` (not retried)."""
        if self._app is None and not self.error:
            from core import app as factory
            from core.config import ConfigError, load_config
            from core.events import EventError
            from core.plugins import PluginError

            try:
                config = load_config()
                if not self.strict:
                    config.plugins_strict = False
                extra = None
                if self.dev_plugins:
                    config.plugins_enabled = [
                        *(p for p in config.plugins_enabled if p not in self.dev_plugins),
                        *self.dev_plugins]
                    extra = dict(self.dev_plugins)
                self._app = factory.create_app(config, plugins=extra)
            except (ConfigError, PluginError, EventError) as exc:
                self.error = str(exc) or type(exc).__name__
        return self._app

    @property
    def app(self) -> Flask:
        """The app; if it cannot be built, the command ends here with the readable
        message on stderr and exit status 2, never a traceback."""
        app = self.load()
        if app is None:
            click.echo(self.error, err=True)
            sys.exit(2)
        return app

    @property
    def kernel(self) -> Any:
        return kernel_of(self.app)


#: ``@pass_ctx`` gives a command the invocation's :class:`AppContext` (made if missing).
pass_ctx = click.make_pass_decorator(AppContext, ensure=True)

__all__ = ["AppContext", "pass_ctx"]
