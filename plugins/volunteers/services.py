"""The rules, as plain functions over a session: no Flask, no commit. The page, the API,
the tests and the event handler all call these."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from plugins.volunteers.models import VolunteersItem


class ItemError(ValueError):
    """A rule was broken; ``field`` names the input it concerns. The API answers 409 (the
    request matched the schema, the data refused it), the page shows it at the field."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def create_item(session: Session, *, title: str, created_by_id: int | None,
                person_id: int | None = None, community: str | None = None) -> VolunteersItem:
    title = (title or "").strip()
    if not title:
        raise ItemError("Enter a title.", "title")
    if session.scalar(select(VolunteersItem.id).where(VolunteersItem.title == title)) is not None:
        raise ItemError("An item with this title exists already.", "title")
    item = VolunteersItem(title=title, created_by_id=created_by_id, person_id=person_id,
                       community=community)
    session.add(item)
    session.flush()
    return item


def items_query() -> Select:
    return select(VolunteersItem).order_by(VolunteersItem.id.desc())


def recent_items(session: Session, limit: int = 20) -> list[VolunteersItem]:
    return list(session.scalars(items_query().limit(limit)))


def get_item(session: Session, item_id: int) -> VolunteersItem | None:
    return session.get(VolunteersItem, item_id)


def follow_move(event: Any, session: Session) -> None:
    """``registry.person.moved``: keep the community of the person's items in step.
    Idempotent (delivery is at least once); works in the given session, never commits."""
    person_id = event.payload["person_id"]
    query = select(VolunteersItem).where(VolunteersItem.person_id == person_id)
    for item in session.scalars(query):
        item.community = event.payload["to_community"]
