"""Which registry data scope each payload field belongs to, and filtering by scope.

An external client is granted event types *and* registry data scopes. An event leaves
only when its type is granted and the scope of its subject (the person, household,
organisation or dwelling it is about) is granted; fields of other scopes are removed from
the payload. The classification is by field name, so plugins' events follow the same
rules as core's without declaring anything: a field named ``person_id`` (or ending in
``_person_id``) is a person, ``household_id`` a household, and so on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BASIC = "registry.person.basic"
IDENTITY = "registry.person.identity"
CONTACT = "registry.person.contact"
HOUSEHOLD = "registry.household"
DWELLING = "registry.dwelling"
ORGANISATION = "registry.organisation"

#: When an event carries several kinds of subject, the first one here decides whether it
#: may leave at all (an event about a person that mentions a dwelling is a person event).
SUBJECT_ORDER = (BASIC, HOUSEHOLD, ORGANISATION, DWELLING, IDENTITY, CONTACT)

_PERSON_NAMES = frozenset({"person_id", "duplicate_id", "person_ids", "resident_id"})


def field_scope(name: str) -> str | None:
    """The registry scope a payload field belongs to, or None for neutral fields (codes,
    counts, dates of the event itself)."""
    if "id_number" in name or "birth" in name or name == "id_type":
        return IDENTITY
    if "phone" in name or "mobile" in name:
        return CONTACT
    if name in _PERSON_NAMES or name.endswith("_person_id") or name.endswith("_person_ids"):
        return BASIC
    if name == "relation" or "household_id" in name:
        return HOUSEHOLD
    if "dwelling_id" in name or "building_id" in name or "address" in name:
        return DWELLING
    if "organisation_id" in name or name in ("org_id", "merchant_org_id"):
        return ORGANISATION
    return None


def required_scope(field_names: Iterable[str]) -> str | None:
    """The scope a client needs for an event with these payload fields to leave at all."""
    present = {field_scope(n) for n in field_names} - {None}
    for scope in SUBJECT_ORDER:
        if scope in present:
            return scope
    return None


def filter_payload(payload: dict[str, Any], scopes: Iterable[str]) -> dict[str, Any] | None:
    """``payload`` without the fields of scopes the client lacks, or None when the event's
    subject itself is outside the client's scopes (then nothing may leave)."""
    granted = set(scopes)
    need = required_scope(payload)
    if need is not None and need not in granted:
        return None
    return {k: v for k, v in payload.items() if field_scope(k) in (None, *granted)}


def person_ids(payload: dict[str, Any]) -> set[int]:
    """Registry persons a (filtered) payload names: they get an access-log entry.
    ``first_person_id``/``last_person_id`` pairs stand for the range between them."""
    ids: set[int] = set()
    for key, value in payload.items():
        if field_scope(key) != BASIC:
            continue
        values = value if isinstance(value, list) else [value]
        ids.update(int(v) for v in values if isinstance(v, int) and not isinstance(v, bool))
    return ids


def person_range(payload: dict[str, Any]) -> tuple[int, int] | None:
    first, last = payload.get("first_person_id"), payload.get("last_person_id")
    if isinstance(first, int) and isinstance(last, int) and first <= last:
        return first, last
    return None
