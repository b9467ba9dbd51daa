"""The visit rules as data: ``data/rules.json`` shipped with the plugin, each key
overridable per rule in ``[plugins.grid] rules``. Why data: which groups a district visits
and how often is policy that changes with a notice from the civil-affairs bureau, not code."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.toolkit import localized, plugin_settings

RULES_FILE = Path(__file__).resolve().parent.parent / "data" / "rules.json"


@dataclass(frozen=True)
class VisitRule:
    """One rule: who it selects (``source``) and how often they are visited."""

    code: str
    name_en: str
    name_zh: str
    source: str  # "registry" | "membership" | "arrival"
    interval_days: int
    enabled: bool = True
    age_min: int | None = None
    alone: bool = False
    database: str = ""
    window_days: int = 90

    @property
    def label(self) -> str:
        return localized(self.name_en, self.name_zh)


@lru_cache(maxsize=1)
def _shipped() -> tuple[VisitRule, ...]:
    data = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    return tuple(VisitRule(**row) for row in data["rules"])


def shipped_codes() -> set[str]:
    return {r.code for r in _shipped()}


def all_rules(settings: dict[str, Any] | None = None) -> list[VisitRule]:
    """Every rule with the deployment's overrides applied (disabled ones included)."""
    overrides = (settings if settings is not None else plugin_settings("grid")).get("rules") or {}
    return [replace(r, **overrides.get(r.code, {})) for r in _shipped()]


def active_rules(settings: dict[str, Any] | None = None) -> list[VisitRule]:
    return [r for r in all_rules(settings) if r.enabled]


def rule_map(settings: dict[str, Any] | None = None) -> dict[str, VisitRule]:
    return {r.code: r for r in all_rules(settings)}
