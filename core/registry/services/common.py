"""What every registry service shares: the person and organisation field lists, the
change history (``registry_change``), looking up and flushing with the registry's errors,
dates, and the version check of optimistic locking.

The lowest module of the package: the place, person, household and organisation services
all build on it, and import nothing of each other but what is below them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from core.db import utcnow
from core.registry import codes
from core.registry.errors import ConflictError, NotFound, RegistryError
from core.registry.models import (
    Change,
)
from core.registry.validation import (
    mask_id_number,
    mask_phone,
)
from core.rules import N_

#: Fields a caller may set on a person directly (place, household and status change
#: through their own functions, which keep history and publish the right events).
PERSON_FIELDS = (
    "name",
    "id_type",
    "id_number",
    "sex",
    "birth_date",
    "phone",
    "ethnicity",
    "nationality",
    "hukou_type",
    "hukou_place",
)
#: Stored masked in ``registry_change`` (see ``models.Change``).
MASKED_HISTORY = {"id_number": mask_id_number, "phone": mask_phone}
ORG_FIELDS = ("name", "credit_code", "type", "address", "legal_rep_id", "community", "grid",
              "status")
_NAME_OK = re.compile(r"[^\W\d_]", re.UNICODE)


# ------------------------------------------------------------------------------ helpers


def _who(actor: Any) -> tuple[int | None, str]:
    """(id, name) of who really acts: the agent in the assisted channel, else the user."""
    real = getattr(actor, "actor", None) or actor
    return getattr(real, "id", None), (getattr(real, "username", "") or "")[:64]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def record_change(
    session: Session,
    entity: str,
    entity_id: int,
    changes: Mapping[str, tuple[Any, Any]],
    *,
    actor: Any = None,
    via: str = "core",
) -> None:
    """One ``registry_change`` row per changed field (``{field: (old, new)}``). Within
    :func:`history_context` the rows also carry that import id and reason (so an import,
    or its revert, tags every change the services write for it without new parameters
    on every service)."""
    actor_id, actor_name = _who(actor)
    now = utcnow()
    import_id, reason = session.info.get(HISTORY_CONTEXT, (None, None))
    for name, (old, new) in changes.items():
        if old == new:
            continue
        mask = MASKED_HISTORY.get(name)
        old_s, new_s = _text(old), _text(new)
        if mask is not None:
            old_s = mask(old_s) if old_s else old_s
            new_s = mask(new_s) if new_s else new_s
        session.add(
            Change(entity=entity, entity_id=entity_id, field=name, old=old_s, new=new_s,
                   actor_id=actor_id, actor_name=actor_name, via=via[:40], at=now,
                   import_id=import_id, reason=reason)
        )


#: ``session.info`` key of the (import id, reason) that :func:`record_change` adds.
HISTORY_CONTEXT = "registry.history_context"


@contextmanager
def history_context(session: Session, *, import_id: int | None,
                    reason: str | None) -> Iterator[None]:
    """Every history row written in the block carries ``import_id`` and ``reason``."""
    before = session.info.get(HISTORY_CONTEXT)
    session.info[HISTORY_CONTEXT] = (import_id, reason or None)
    try:
        yield
    finally:
        if before is None:
            session.info.pop(HISTORY_CONTEXT, None)
        else:
            session.info[HISTORY_CONTEXT] = before


def history(session: Session, entity: str, entity_id: int) -> list[Change]:
    """The change history of one entity, oldest first."""
    return list(
        session.scalars(
            select(Change)
            .where(Change.entity == entity, Change.entity_id == entity_id)
            .order_by(Change.id)
        )
    )


def _get(session: Session, model: type, ident: int, what: str) -> Any:
    obj = session.get(model, ident) if ident is not None else None
    if obj is None:
        raise NotFound(N_("No such %(what)s."), what, what=what)
    return obj


def _flush(session: Session, entity: Any) -> None:
    """Flush, turning a lost optimistic-lock race into :class:`ConflictError`."""
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        raise ConflictError(
            N_("Someone else changed this record meanwhile; reload it and try again.")
        ) from None


def parse_date(value: Any, field: str = "date") -> date | None:
    """A date from a ``date``, ``datetime`` or text ("2024-03-01", "2024/3/1", "20240301",
    "2024年3月1日"); None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    text = unicodedata.normalize("NFKC", str(value)).strip()
    text = re.sub(r"[年月/.]", "-", text).rstrip("日").strip()
    try:
        if re.fullmatch(r"\d{8}", text):
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        y, m, d = (int(p) for p in text.split("-"))
        return date(y, m, d)
    except ValueError:
        raise RegistryError(N_("Enter a date as YYYY-MM-DD."), field) from None


def _role(role: str) -> str:
    try:
        return codes.parse_code(role, codes.RESIDENCE_ROLES, codes.RESIDENCE_ALIASES) or "other"
    except KeyError:
        raise RegistryError(N_("A residence is as owner, tenant or other."), "role") from None


def _check_version(obj: Any, expected: int | None) -> None:
    if expected is not None and obj.version != expected:
        raise ConflictError(
            N_("Someone else changed this record meanwhile (version %(current)s, you had "
               "%(expected)s); reload it and try again."),
            current_version=obj.version, current=obj.version, expected=expected,
        )
