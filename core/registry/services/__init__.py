"""The registry's business rules: plain functions over a session, no Flask. Pages, the API,
the CLI, importers and event handlers all call these; callers commit.

Every write function

* validates with the same rules as the importer (:func:`clean_person`),
* records each changed field in ``registry_change`` (old → new, who, when, ``via``),
* publishes its event on ``bus`` in the same transaction (``registry.person.moved`` ...),
  so the change and the event commit or roll back together.

Reads by plugins go through :class:`RegistryReader` (scopes, purpose, access log) and
:func:`search_persons`; identity uses :func:`match_person`, :func:`find_by_id_number`
and :func:`person_community`.

The package is split by what the rules are about: :mod:`.common` (history, lookups,
dates), :mod:`.places`, :mod:`.persons`, :mod:`.households` and :mod:`.organisations`.
This module re-exports every name (the private ones the importer, the demo and the tests
use included), so ``from core.registry import services`` stays the one import.
"""

from __future__ import annotations

from core.registry.errors import ConflictError, NotFound, RegistryError, ScopeError
from core.registry.models import Person
from core.registry.reader import RegistryReader, person_view
from core.registry.search import AGE_BANDS, SearchPage, search_persons
from core.registry.services.common import (
    _NAME_OK,
    MASKED_HISTORY,
    ORG_FIELDS,
    PERSON_FIELDS,
    _check_version,
    _flush,
    _get,
    _role,
    _text,
    _who,
    history,
    parse_date,
    record_change,
)
from core.registry.services.households import (
    _household_event,
    _leave_household,
    _relation,
    add_member,
    create_household,
    household_members,
    remove_member,
    set_head,
)
from core.registry.services.organisations import (
    clean_organisation,
    register_organisation,
    update_organisation,
)
from core.registry.services.persons import (
    _apply_name,
    _clean_name,
    _id_taken,
    clean_person,
    current_residence,
    find_by_id_number,
    match_person,
    merge_persons,
    move_person,
    person_community,
    persons_by_ids,
    record_death,
    register_person,
    update_person,
)
from core.registry.services.places import (
    _place_codes,
    _valid,
    community_by_code,
    create_community,
    create_grid,
    create_street,
    ensure_dwelling,
    format_address,
    grid_by_code,
    guess_floor,
)
from core.registry.validation import mask_id_number, mask_phone
from core.rules import N_

#: Every name the package had as one module: the public API, and the private helpers the
#: importer, the demo generator and the tests use.
__all__ = [
    "AGE_BANDS",
    "MASKED_HISTORY",
    "N_",
    "ORG_FIELDS",
    "PERSON_FIELDS",
    "_NAME_OK",
    "ConflictError",
    "NotFound",
    "Person",
    "RegistryError",
    "RegistryReader",
    "ScopeError",
    "SearchPage",
    "_apply_name",
    "_check_version",
    "_clean_name",
    "_flush",
    "_get",
    "_household_event",
    "_id_taken",
    "_leave_household",
    "_place_codes",
    "_relation",
    "_role",
    "_text",
    "_valid",
    "_who",
    "add_member",
    "clean_organisation",
    "clean_person",
    "community_by_code",
    "create_community",
    "create_grid",
    "create_household",
    "create_street",
    "current_residence",
    "ensure_dwelling",
    "find_by_id_number",
    "format_address",
    "grid_by_code",
    "guess_floor",
    "history",
    "household_members",
    "mask_id_number",
    "mask_phone",
    "match_person",
    "merge_persons",
    "move_person",
    "parse_date",
    "person_community",
    "person_view",
    "persons_by_ids",
    "record_change",
    "record_death",
    "register_organisation",
    "register_person",
    "remove_member",
    "search_persons",
    "set_head",
    "update_organisation",
    "update_person",
]
