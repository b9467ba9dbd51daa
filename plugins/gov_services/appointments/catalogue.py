"""What appointments read from the service catalogue: a service's office (through its
department) and the offices' names, overridden by ``[plugins.gov_services.offices]``."""

from __future__ import annotations

from typing import Any


def office_code(g: Any, service: Any) -> str | None:
    """The office a service is handled at (its department's), or None."""
    dept = g.catalogue.departments.get(service.department, {})
    code = dept.get("office")
    return code if code and code in g.catalogue.offices else None


def office_name(g: Any, office: str, lang: str = "zh") -> str:
    data = {**g.catalogue.offices.get(office, {}),
            **((g.settings.get("offices") or {}).get(office) or {})}
    other = "zh" if lang == "en" else "en"
    return str(data.get(f"name_{lang}") or data.get(f"name_{other}") or office)


def offices(g: Any, lang: str = "zh") -> list[tuple[str, str]]:
    """``[(code, name), …]`` of every office in the catalogue."""
    return [(code, office_name(g, code, lang)) for code in g.catalogue.offices]
