"""The service catalogue: the 27 built-in services (``data/services.json``) plus those other
plugins add through the ``gov_services_service_types`` hook; working-day arithmetic with
a configurable holiday calendar; and the data-driven eligibility rules.

The catalogue is data, not code, because local rules differ (the longevity allowance
starts at 80 in most places, 70 or 90 in some): a deployment changes thresholds per
community (``gov_services_setting`` rows), never the program.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.toolkit import localized

DATA_FILE = Path(__file__).with_name("data") / "services.json"
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{1,59}$")
FIELD_TYPES = ("text", "textarea", "number", "date", "select", "bool")
#: Kinds of sensitive answer (a field's ``sensitive`` key) and how each is masked: a bank
#: card or another account/certificate number keeps its last four characters, an ID number
#: and a phone are masked as the registry masks them, a third person's name keeps the
#: surname, free text naming people is hidden. Shown in full only to a handler at the step
#: that needs it, with a purpose, and every display is in the applicant's access log.
SENSITIVE_KINDS = ("bank_card", "id_number", "phone", "name", "number", "text")
#: A field a plugin forgot to mark is still treated as sensitive when its name says what it
#: holds: ``*id_number`` → id_number, ``*bank_card*`` → bank_card, ``*phone*`` → phone.
_INFERRED = (("id_number", "id_number"), ("bank_card", "bank_card"), ("phone", "phone"),
             ("mobile", "phone"))
STAGES = ("community_check", "street_review", "approval")
RULES = (
    "age_min",
    "age_max",
    "sex",
    "hukou",
    "answer",
    "answer_false",
    "answer_min",
    "answer_max",
    "answer_in",
    "income_per_head_max",
)
#: Derived groups: computed from the registry on every read, never stored.
DERIVED_GROUPS: dict[str, dict[str, Any]] = {
    "elderly_60": {"zh": "60岁及以上老年人", "en": "Elderly 60 and over", "age_min": 60},
    "elderly_80": {"zh": "80岁及以上高龄老人", "en": "Elderly 80 and over", "age_min": 80},
    "women_15_49": {
        "zh": "育龄妇女（15–49岁）",
        "en": "Women aged 15 to 49",
        "age_min": 15,
        "age_max": 49,
        "sex": "F",
    },
}


class CatalogueError(ValueError):
    """The catalogue data (built-in or from a plugin) is malformed."""


@dataclass(frozen=True)
class Service:
    code: str
    name_zh: str
    name_en: str
    department: str
    database: str
    fields: tuple[dict[str, Any], ...]
    documents: tuple[dict[str, Any], ...]
    eligibility: tuple[dict[str, Any], ...]
    stages: tuple[str, ...]
    public_notice_days: int
    time_limits: dict[str, int]
    offers: tuple[str, ...] = ()
    source: str = "gov_services"
    #: What the service is for, in plain words (the service page's first line and a
    #: search field): never an internal name.
    summary_zh: str = ""
    summary_en: str = ""
    #: The life events it belongs to (``life_events`` in the data file): the service
    #: hall's default grouping, the alternatives offered to someone not eligible.
    life_events: tuple[str, ...] = ()
    #: Words residents use for it that its name does not contain (老人 for 高龄津贴).
    keywords_zh: tuple[str, ...] = ()
    keywords_en: tuple[str, ...] = ()
    #: Codes of the services to suggest first to someone who may not apply for this one
    #: (高龄津贴 → 老年人优待证): an editor's choice, before the others of its life events.
    see_also: tuple[str, ...] = ()

    def name(self, lang: str = "zh") -> str:
        return localized(self.name_en, self.name_zh, lang)

    def summary(self, lang: str = "zh") -> str:
        return localized(self.summary_en, self.summary_zh, lang)

    def total_days(self) -> int:
        """Working days from acceptance to decision (stages plus any public notice)."""
        return sum(self.time_limits.get(s, 0) for s in self.stages) + self.public_notice_days

    def sensitive_fields(self) -> dict[str, str]:
        """``{field name: sensitive kind}`` for the answers that are masked by default."""
        return {f["name"]: f["sensitive"] for f in self.fields if f.get("sensitive")}

    def params(self) -> dict[str, Any]:
        """The overridable thresholds and their defaults: ``{param: value}``."""
        out: dict[str, Any] = {}
        for rule in self.eligibility:
            if "param" in rule:
                out[rule["param"]] = rule.get("by_sex", rule.get("value"))
        return out


@dataclass
class Catalogue:
    services: dict[str, Service] = field(default_factory=dict)
    departments: dict[str, dict[str, str]] = field(default_factory=dict)
    databases: dict[str, dict[str, str]] = field(default_factory=dict)
    #: ``{code: {zh, en, keywords_zh, keywords_en}}`` in display order.
    life_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ``{code: {name_zh, name_en, address_zh, address_en, hours_zh, hours_en, phone}}``;
    #: a department names its office (and window) with ``office`` / ``window_zh``.
    offices: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The search index (``services/search.py``), built on first search: the catalogue
    #: is data fixed for the app's life, so the index is too.
    search_index: Any = field(default=None, repr=False, compare=False)

    def get(self, code: str) -> Service | None:
        return self.services.get(code)

    def database_label(self, code: str, lang: str = "zh") -> str:
        entry = self.databases.get(code) or DERIVED_GROUPS.get(code) or {}
        return entry.get(lang) or entry.get("zh") or code

    def department_label(self, code: str, lang: str = "zh") -> str:
        entry = self.departments.get(code, {})
        return entry.get(lang) or entry.get("zh") or code

    def life_event_label(self, code: str, lang: str = "zh") -> str:
        entry = self.life_events.get(code, {})
        return entry.get(lang) or entry.get("zh") or code


def _texts(raw: dict[str, Any], key: str, source: str, code: str) -> tuple[str, ...]:
    value = raw.get(key, ())
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise CatalogueError(f"{source}: service {code}: {key} must be a list of strings")
    return tuple(value)


def _service(raw: dict[str, Any], source: str, life_events: dict[str, Any]) -> Service:
    try:
        code = raw["code"]
        if not CODE_RE.match(code):
            raise CatalogueError(f"{source}: bad service code {code!r}")
        fields_ = tuple(_field(f, source, code) for f in raw.get("fields", ()))
        rules = tuple(raw.get("eligibility", ()))
        for r in rules:
            if r.get("rule") not in RULES:
                raise CatalogueError(f"{source}: service {code}: unknown rule {r!r}")
        workflow = raw.get("workflow", {})
        stages = tuple(workflow.get("stages", STAGES))
        if not stages or any(s not in STAGES for s in stages):
            raise CatalogueError(f"{source}: service {code}: bad stages {stages!r}")
        return Service(
            code=code,
            name_zh=raw["name_zh"],
            name_en=raw["name_en"],
            department=raw["department"],
            database=raw["database"],
            fields=fields_,
            documents=tuple(raw.get("documents", ())),
            eligibility=rules,
            stages=stages,
            public_notice_days=int(workflow.get("public_notice_days", 0)),
            time_limits={k: int(v) for k, v in raw.get("time_limits", {}).items()},
            offers=tuple(raw.get("offers", ())),
            source=source,
            summary_zh=str(raw.get("summary_zh", "")),
            summary_en=str(raw.get("summary_en", "")),
            life_events=_life_events(raw, source, code, life_events),
            keywords_zh=_texts(raw, "keywords_zh", source, code),
            keywords_en=_texts(raw, "keywords_en", source, code),
            see_also=_texts(raw, "see_also", source, code),
        )
    except KeyError as exc:
        raise CatalogueError(f"{source}: a service lacks {exc}") from None


def _life_events(
    raw: dict[str, Any], source: str, code: str, known: dict[str, Any]
) -> tuple[str, ...]:
    """The service's life events, each one the data file defines: a plugin's service joins
    the existing groups (a new group would need its labels in both languages)."""
    events = _texts(raw, "life_events", source, code)
    unknown = [e for e in events if e not in known]
    if unknown:
        raise CatalogueError(f"{source}: service {code}: unknown life events {unknown!r} "
                             f"(one of {', '.join(known)})")
    return events


def _sensitive_kind(f: dict[str, Any]) -> str | None:
    """The field's sensitive kind: the declared one, or the one its name implies."""
    declared = f.get("sensitive")
    if declared:
        return declared
    name = f.get("name", "")
    return next((kind for part, kind in _INFERRED if part in name), None)


def _field(f: Any, source: str, code: str) -> dict[str, Any]:
    if not isinstance(f, dict) or f.get("type", "text") not in FIELD_TYPES or not CODE_RE.match(
        str(f.get("name", ""))
    ):
        raise CatalogueError(f"{source}: service {code}: bad field {f!r}")
    kind = _sensitive_kind(f)
    if kind is not None and kind not in SENSITIVE_KINDS:
        raise CatalogueError(f"{source}: service {code}: field {f['name']}: unknown "
                             f"sensitive kind {kind!r} (one of {', '.join(SENSITIVE_KINDS)})")
    return {**f, "sensitive": kind}


def load_catalogue(extra: list[tuple[str, list[dict[str, Any]]]] = ()) -> Catalogue:
    """The built-in data file plus ``extra`` ``(plugin_id, [service dict, ...])`` from the
    hook. Duplicate codes are an error: one would silently shadow the other."""
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    cat = Catalogue(
        departments=dict(data["departments"]),
        databases=dict(data["databases"]),
        life_events=dict(data.get("life_events", {})),
        offices=dict(data.get("offices", {})),
    )
    for source, items in [("gov_services", data["services"]), *extra]:
        for raw in items or ():
            service = _service(raw, source, cat.life_events)
            if service.code in cat.services:
                raise CatalogueError(f"{source}: service code {service.code} is taken")
            cat.services[service.code] = service
            if service.department not in cat.departments:
                cat.departments[service.department] = {
                    "zh": service.department,
                    "en": service.department,
                }
            if service.database not in cat.databases:
                label = raw.get("database_label", {})
                cat.databases[service.database] = {
                    "zh": label.get("zh", service.database),
                    "en": label.get("en", service.database),
                }
    return cat
