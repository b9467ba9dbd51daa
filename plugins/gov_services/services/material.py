"""补正 as a one-time full notice (一次性告知): what staff may ask for, how each item is
named to the resident, and which items a file has been uploaded for since the request.

Why its own module: the list is asked for once and completely, so the resident can answer
it in one go — each item gets its own upload slot, the slot is ticked when a file arrives,
and the resubmit button is the only way back. ``Application.missing`` keeps the list as
strings: a code of the service's own document list, or a description staff wrote for
anything else ("other (describe)"); older free-text lists read as descriptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from core.toolkit import N_
from plugins.gov_services.catalogue import Service
from plugins.gov_services.models import Application
from plugins.gov_services.services.vocabulary import GovError, clean_text

#: The attachment ``document`` of an "other" item is this prefix and its description, so a
#: file keeps the name staff asked for it by after the list is answered.
OTHER_PREFIX = "other:"
#: Attachment.document holds 60 characters: the prefix and a short item name.
OTHER_MAX = 50
MAX_ITEMS = 30


def document_codes(service: Service) -> list[str]:
    return [d["code"] for d in service.documents]


def clean_missing(service: Service, documents: Iterable[str], other: Iterable[str]) -> list[str]:
    """The stored list: the chosen documents of the service (in its order), then each
    "other" description. Refused when empty (the notice must be complete) or when a
    chosen code is not one of the service's documents."""
    codes = document_codes(service)
    chosen = {clean_text(c, "missing") for c in documents if c and c.strip()}
    unknown = chosen - set(codes)
    if unknown:
        raise GovError(N_("This service does not ask for that document."), "missing")
    out = [c for c in codes if c in chosen]
    for text in other:
        text = clean_text(text, "missing")
        if text and text not in out:
            if len(text) > OTHER_MAX:
                raise GovError(N_("Name each missing item in at most %(n)s characters."),
                               "missing", n=OTHER_MAX)
            out.append(text)
    if not out:
        raise GovError(N_("List everything that is missing, at once."), "missing")
    if len(out) > MAX_ITEMS:
        raise GovError(N_("Ask for at most %(n)s items at once."), "missing", n=MAX_ITEMS)
    return out


def split_missing(service: Service, values: Iterable[str]) -> tuple[list[str], list[str]]:
    """API input (one list of strings) as (document codes, other descriptions)."""
    codes = set(document_codes(service))
    values = [v for v in values if v and v.strip()]
    return [v for v in values if v in codes], [v for v in values if v not in codes]


def requested_at(app: Application) -> datetime | None:
    """When the current list was asked for (the newest 补正 step)."""
    steps = [s for s in app.steps if s.action == "request_material"]
    return steps[-1].at if steps else None


def _aware(value: datetime | None) -> datetime | None:

    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def material_items(service: Service, app: Application, lang: str = "zh") -> list[dict[str, Any]]:
    """The missing items as the pages show them: ``key`` (the attachment's ``document``),
    ``label`` in ``lang``, ``other`` (a description staff wrote), ``files`` uploaded for
    it since the request and ``done`` when there is at least one."""
    docs = {d["code"]: d for d in service.documents}
    since = _aware(requested_at(app))
    out = []
    for entry in app.missing or []:
        if entry in docs:
            key, label, other = entry, docs[entry]["en" if lang == "en" else "zh"], False
        else:
            key, label, other = f"{OTHER_PREFIX}{entry}"[:60], entry, True
        files = [
            a for a in app.attachments
            if a.document == key and (since is None or _aware(a.uploaded_at) >= since)
        ]
        out.append({"key": key, "label": label, "other": other, "files": files,
                    "done": bool(files)})
    return out


def item_labels(service: Service, app: Application, lang: str = "zh") -> list[str]:
    return [i["label"] for i in material_items(service, app, lang)]


def document_label(service: Service, app: Application, code: str, lang: str = "zh") -> str:
    """The name of an attachment's ``document``: a document of the service, or the
    description of the "other" item it was uploaded for."""
    for d in service.documents:
        if d["code"] == code:
            return d["en" if lang == "en" else "zh"]
    if code.startswith(OTHER_PREFIX):
        return code[len(OTHER_PREFIX):]
    return code


def item_keys(service: Service, app: Application) -> list[str]:
    """The ``document`` values an upload may carry while material is asked for."""
    return [i["key"] for i in material_items(service, app)]
