"""The events the registry publishes, with their payload schemas.

Payloads carry ids and division codes, never ID numbers, phones or names: events are
stored in the outbox and copied to every subscriber, and a subscriber that needs more reads
the registry through its own data scopes (and is logged doing so).
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields


class PersonRegistered(Schema):
    person_id = fields.Integer(required=True)
    community = fields.String(required=True, allow_none=True)
    grid = fields.String(required=True, allow_none=True)
    via = fields.String(required=True)


class PersonUpdated(Schema):
    person_id = fields.Integer(required=True)
    fields_ = fields.List(fields.String(), required=True, data_key="fields")
    version = fields.Integer(required=True)
    via = fields.String(required=True)


class PersonMoved(Schema):
    person_id = fields.Integer(required=True)
    #: 12-digit community codes; None when coming from / leaving the registry's area.
    from_community = fields.String(required=True, allow_none=True)
    to_community = fields.String(required=True, allow_none=True)
    from_dwelling_id = fields.Integer(required=True, allow_none=True)
    to_dwelling_id = fields.Integer(required=True, allow_none=True)
    on = fields.Date(required=True, allow_none=True)
    via = fields.String(required=True)


class PersonDeceased(Schema):
    person_id = fields.Integer(required=True)
    died_on = fields.Date(required=True, allow_none=True)
    community = fields.String(required=True, allow_none=True)
    via = fields.String(required=True)


class PersonMerged(Schema):
    #: The record that stays.
    person_id = fields.Integer(required=True)
    #: The duplicate, now ``status = "merged"`` with ``merged_into_id = person_id``.
    duplicate_id = fields.Integer(required=True)
    via = fields.String(required=True)


class HouseholdChanged(Schema):
    household_id = fields.Integer(required=True)
    #: created | member_added | member_removed | head_changed | relation_changed
    change = fields.String(required=True)
    person_id = fields.Integer(required=True, allow_none=True)
    relation = fields.String(required=True, allow_none=True)
    via = fields.String(required=True)


class OrganisationRegistered(Schema):
    organisation_id = fields.Integer(required=True)
    community = fields.String(required=True, allow_none=True)
    via = fields.String(required=True)


class OrganisationUpdated(Schema):
    organisation_id = fields.Integer(required=True)
    fields_ = fields.List(fields.String(), required=True, data_key="fields")
    version = fields.Integer(required=True)
    via = fields.String(required=True)


class ImportCompleted(Schema):
    #: The ``registry_change`` row (entity "import") that records the batch.
    batch_id = fields.Integer(required=True)
    created = fields.Integer(required=True)
    updated = fields.Integer(required=True)
    unchanged = fields.Integer(required=True)
    first_person_id = fields.Integer(required=True, allow_none=True)
    last_person_id = fields.Integer(required=True, allow_none=True)
    via = fields.String(required=True)


class ImportReverted(Schema):
    #: The ``registry_import`` row that was undone.
    import_id = fields.Integer(required=True)
    restored = fields.Integer(required=True)
    deleted_persons = fields.Integer(required=True)
    via = fields.String(required=True)


REGISTRY_EVENTS: dict[str, tuple[type[Schema], str]] = {
    "registry.person.registered": (
        PersonRegistered, "A person was registered one by one (imports: registry.import.completed)."
    ),
    "registry.person.updated": (
        PersonUpdated, "A person's recorded data changed; `fields` names the changed columns."
    ),
    "registry.person.moved": (
        PersonMoved,
        "A person moved to another dwelling, into the area or out of it (to_community null).",
    ),
    "registry.person.deceased": (PersonDeceased, "A person's death was recorded."),
    "registry.person.merged": (
        PersonMerged, "A duplicate record was merged into the one that stays."
    ),
    "registry.household.changed": (
        HouseholdChanged, "A household was created or its members, head or relations changed."
    ),
    "registry.organisation.registered": (
        OrganisationRegistered, "An organisation was registered."
    ),
    "registry.organisation.updated": (
        OrganisationUpdated, "An organisation's recorded data changed."
    ),
    "registry.import.completed": (
        ImportCompleted,
        "A bulk import committed: persons created in one batch (ids first..last); updated "
        "persons also get their own updated/moved events.",
    ),
    "registry.import.reverted": (
        ImportReverted,
        "An import was undone as a whole: fields restored, the persons it created deleted "
        "(no per-person event for those: subscribers drop the import's id range).",
    ),
}


def declare_registry_events(bus: Any) -> None:
    """Declare every registry event on ``bus`` (as core). Idempotent, so tests and an app
    factory that calls it twice do not trip the bus's duplicate check."""
    for name, (schema, doc) in REGISTRY_EVENTS.items():
        if name not in bus.types:
            bus.declare(name, schema, doc)
