"""The registry's exceptions, in their own module so every registry module can raise them
without import cycles. ``message`` is an English msgid with ``%(name)s`` placeholders
(pages translate it with ``gettext(exc.message, **exc.params)``), like identity's errors."""

from __future__ import annotations

from typing import Any


class RegistryError(ValueError):
    """A registry rule was broken. ``field`` names the input concerned; ``errors`` maps
    several fields to their messages when validation found more than one problem."""

    status = 400

    def __init__(
        self,
        message: str,
        field: str = "",
        *,
        errors: dict[str, str] | None = None,
        **params: Any,
    ):
        super().__init__(message % params if params else message)
        self.message = message
        self.field = field
        self.params = params
        self.errors = errors or ({field: str(self)} if field else {})


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
