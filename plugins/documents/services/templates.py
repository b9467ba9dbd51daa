"""The document templates: data in ``data/templates.json``, keyed by service code with a
``default`` for the rest (a service's entry overrides the default section by section).
A paragraph is ``{zh, en}``; Chinese is always there, English where the template has it."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data" / "templates.json"
SECTIONS = ("receipt", "decision", "refusal", "certificate")
KINDS = ("receipt", "decision", "certificate")

#: What the document says was decided, in both languages: it is part of the signed
#: statement, so it is data, not a translation that could change under a signature.
OUTCOMES = {
    "accepted": {"zh": "予以受理", "en": "accepted"},
    "approved": {"zh": "准予办理", "en": "approved"},
    "completed": {"zh": "准予办理，已办结", "en": "approved and completed"},
    "rejected": {"zh": "不予许可", "en": "refused"},
    "not_accepted": {"zh": "不予受理", "en": "not accepted"},
}


class TemplateError(ValueError):
    """The templates file is malformed (found by the tests and at first use)."""


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    if "default" not in raw:
        raise TemplateError("documents: templates.json has no 'default'")
    for code, entry in raw.items():
        if code.startswith("_"):
            continue
        kind = entry.get("decision_kind", "decision")
        if kind not in ("decision", "certificate"):
            raise TemplateError(f"documents: {code}: decision_kind must be decision or certificate")
        for section in SECTIONS:
            part = entry.get(section)
            if part is None:
                continue
            if not part.get("title", {}).get("zh") or not part.get("body"):
                raise TemplateError(f"documents: {code}.{section} needs a zh title and a body")
            for para in part["body"]:
                if not para.get("zh"):
                    raise TemplateError(f"documents: {code}.{section}: a paragraph without zh")
    return raw


def template_for(service_code: str) -> dict[str, Any]:
    """The service's template, every section filled from the default where it has none."""
    data = _data()
    own = data.get(service_code) or {}
    out = dict(data["default"])
    out.update({k: v for k, v in own.items() if not k.startswith("_")})
    return out


def decision_kind(service_code: str) -> str:
    """``certificate`` for services whose template issues a 证明, else ``decision``."""
    return template_for(service_code).get("decision_kind", "decision")


def section_for(outcome: str, service_code: str) -> tuple[str, str]:
    """``(kind, section)`` of the document an outcome produces."""
    if outcome == "accepted":
        return "receipt", "receipt"
    if outcome in ("rejected", "not_accepted"):
        return "decision", "refusal"
    kind = decision_kind(service_code)
    return kind, ("certificate" if kind == "certificate" else "decision")


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render(statement: dict[str, Any]) -> dict[str, Any]:
    """The document's title and paragraphs in each language the template has, filled from
    the statement: ``{"zh": {"title", "body": [...]}, "en": {...} | None}``."""
    part = template_for(statement["service_code"])[statement["section"]]
    out: dict[str, Any] = {}
    for lang in ("zh", "en"):
        if lang == "en" and (not part["title"].get("en")
                             or not all(p.get("en") for p in part["body"])):
            out["en"] = None
            continue
        values = _Blank(
            applicant=statement.get("applicant") or ("申请人" if lang == "zh" else "the applicant"),
            service=statement["service"].get(lang) or statement["service"]["zh"],
            office=statement["office"].get(lang) or statement["office"]["zh"],
            reference=statement["reference"],
            date=statement["issued_on"],
            due_on=statement.get("due_on") or ("—"),
            decision=OUTCOMES.get(statement["outcome"], {}).get(lang, statement["outcome"]),
            reason=statement.get("reason") or ("无" if lang == "zh" else "none given"),
        )
        out[lang] = {
            "title": part["title"][lang],
            "body": [p[lang].format_map(values) for p in part["body"]],
        }
    return out
