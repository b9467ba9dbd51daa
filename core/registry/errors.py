"""The registry's exceptions, in their own module so every registry module can raise them
without import cycles. ``message`` is an English msgid with ``%(name)s`` placeholders
(pages translate it with :meth:`~core.rules.RuleError.text`, or ``gettext(exc.message,
**exc.params)``).

:class:`RegistryError` is a :class:`core.rules.RuleError`, so the API's one handler for
refused rules serves the registry too; it keeps its own default status (400) and its
``errors``, which name the one ``field`` when no mapping is given.
"""

from __future__ import annotations

from typing import Any

from core.rules import RuleError


class RegistryError(RuleError):
    """A registry rule was broken. ``field`` names the input concerned; ``errors`` maps
    several fields to their messages when validation found more than one problem (and, for
    one field, maps it to this error's English text)."""

    status = 400

    def __init__(
        self,
        message: str,
        field: str = "",
        *,
        errors: dict[str, str] | None = None,
        **params: Any,
    ):
        super().__init__(message, field, errors=errors, **params)
        if not self.errors and field:
            self.errors = {field: str(self)}


class NotFound(RegistryError):
    """No such person, household, dwelling, organisation or place (API: 404)."""

    status = 404


class ConflictError(RegistryError):
    """The record changed since the caller read it (optimistic lock; API: 409). The caller
    re-reads (``current_version``) and decides again instead of overwriting someone's edit."""

    status = 409

    def __init__(self, message: str, *, current_version: int | None = None, **params: Any):
        super().__init__(message, "version", **params)
        self.current_version = current_version


class ScopeError(PermissionError):
    """A read outside what the caller may see: a scope the plugin did not declare in
    ``PluginInfo.data_scopes``, a person outside a staff member's communities and grids, or
    a reveal without the permission (API: 403, or 404 where existence must not leak)."""

    status = 403
