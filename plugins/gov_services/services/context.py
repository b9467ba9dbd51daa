"""The per-app context the services run in: the kernel, the merged catalogue, the
working-day calendar and the plugin's settings, kept in the kernel's state for this plugin,
and the scoped registry reader every read of a person goes through.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import (
    N_,
    Calendar,
    RegistryReader,
    current_kernel,
    registry_reader,
    working_calendar,
)
from plugins.gov_services.catalogue import Catalogue, Service, load_catalogue
from plugins.gov_services.services.vocabulary import PLUGIN, UnknownService


@dataclass
class Gov:
    """What the services need from the app: the kernel (bus, settings, plugin scopes),
    the merged catalogue and the working-day calendar."""

    kernel: Any
    catalogue: Catalogue
    calendar: Calendar
    settings: dict[str, Any]

    @property
    def bus(self) -> Any:
        return self.kernel.bus

    def database_label(self, code: str, lang: str = "zh") -> str:
        return self.catalogue.database_label(code, lang)

    def department_label(self, code: str, lang: str = "zh") -> str:
        return self.catalogue.department_label(code, lang)

    def service(self, code: str) -> Service:
        service = self.catalogue.get(code)
        if service is None:
            raise UnknownService(N_("There is no such service."), "service_code")
        return service


def gov(kernel: Any = None) -> Gov:
    """The per-app context, built once and kept in the kernel's state for this plugin
    (``Kernel.state``: it lives with the app, so tests building many apps in one process
    never see each other's catalogue). Without ``kernel``: the current app's."""
    kernel = kernel if kernel is not None else current_kernel()
    state = kernel.state(PLUGIN)
    found = state.get("gov")
    if found is None:
        extra = [
            (pid, items) for pid, items in kernel.plugins.call_ordered("gov_services_service_types")
        ]
        settings = kernel.plugins.settings(PLUGIN)
        found = Gov(
            kernel=kernel,
            catalogue=load_catalogue(extra),
            calendar=working_calendar(settings, kernel=kernel),
            settings=settings,
        )
        state["gov"] = found
    return found


def reader_for(session: Session, g: Gov, actor: Any, purpose: str) -> RegistryReader:
    """The scoped, logged registry reader for this plugin: every person it returns is in
    that person's access log under ``purpose``."""
    return registry_reader(session, PLUGIN, actor=actor, purpose=purpose, kernel=g.kernel)
