"""``/persons``: search (masked), register, read, change, reveal, move, death."""

from __future__ import annotations

from flask import abort
from flask.views import MethodView
from flask_login import current_user

from core.api.blueprint import ApiBlueprint
from core.api.endpoints import endpoint
from core.api.fields import AUTH
from core.current import current_kernel
from core.db import current_session
from core.identity import check_access, require_login
from core.registry import services as registry
from core.registry.api.common import (
    _json_person,
    _search,
    conflict,
    in_place,
    invalid,
    not_found,
    place_codes,
    refuse,
    sensitive_query,
    visible_person,
)
from core.registry.api.schemas import (
    READ,
    REVEAL,
    WRITE,
    DeathRequest,
    MoveRequest,
    PersonCreate,
    PersonPage,
    PersonPatch,
    PersonQuery,
    PersonSchema,
    PersonSearch,
    RevealRequest,
)
from core.registry.errors import RegistryError, ScopeError
from core.registry.models import (
    Dwelling,
    Household,
)
from core.rules import MAX_ID

persons = ApiBlueprint(
    "registry_persons",
    __name__,
    description="Persons: search (masked), register, read, change, reveal, move, death",
)


# ------------------------------------------------------------------------------ persons

REFUSED = "The register refuses these values (fields say why), or the record changed since " \
    "you read it (version)"
MISSING = "No such person within your scope"


@persons.route("/persons")
class Persons(MethodView):
    @endpoint(persons, READ, errors=(422,), descriptions={
        422: "Invalid filters or page, or digits in the query",
    })
    @persons.arguments(PersonQuery, location="query")
    @persons.response(200, PersonPage)
    def get(self, args):
        """Find persons by name or pinyin within your communities and grids (masked,
        paginated): exact name first, then names starting with it, full pinyin, initials
        and other readings. Active persons unless ``status`` says otherwise. ``q`` takes
        no digits: ID numbers, phones and addresses never go in a URL (docs/requirements.md R26),
        they go in the body of ``POST /persons/search``."""
        if sensitive_query(args.get("q")):  # the schema refuses digits already
            invalid("q", "ID numbers, phone numbers and addresses never go in a URL: "
                         "search with POST /persons/search.")
        return _search(current_session(), args)

    @endpoint(persons, WRITE, errors=(404, 409, 422), descriptions={
        403: "Lacks registry.person.write, or the place is not yours",
        404: "The community, dwelling or household named does not exist",
        409: REFUSED,
    })
    @persons.arguments(PersonCreate)
    @persons.response(201, PersonSchema)
    def post(self, data):
        """Register a person in a community (at ``dwelling_id`` when known), within the
        places you are assigned. Sex and birth date come from an 18-character ID number;
        given as well, they must agree with it. Without a document, the birth date is
        required."""
        session = current_session()
        place = {k: data.pop(k) for k in ("community", "dwelling_id", "role", "since",
                                          "household_id", "relation") if k in data}
        community, grid = place["community"], None
        if place.get("dwelling_id"):
            dwelling = session.get(Dwelling, place["dwelling_id"])
            if dwelling is None:
                not_found("dwelling_id", "There is no dwelling with this id.")
            at, grid = place_codes(session, dwelling.community_id, dwelling.grid_id)
            if at != community:
                conflict("dwelling_id", "The dwelling is in another community.")
        if not in_place(community, grid):
            abort(403, description="This place is outside the communities and grids you "
                                   "are assigned.")
        if place.get("household_id") and session.get(Household, place["household_id"]) is None:
            not_found("household_id", "There is no household with this id.")
        try:
            person = registry.register_person(
                session, data, bus=current_kernel().bus, actor=current_user,
                dwelling_id=place.get("dwelling_id"),
                community=None if place.get("dwelling_id") else community,
                role=place.get("role", "other"), since=place.get("since"),
                household_id=place.get("household_id"), relation=place.get("relation"))
        except RegistryError as exc:
            refuse(session, exc)
        session.commit()
        return _json_person(session, person.id)


@persons.route("/persons/search")
class PersonsSearch(MethodView):
    @endpoint(persons, READ, errors=(422,), descriptions={422: "Invalid criteria"})
    @persons.arguments(PersonSearch)
    @persons.response(200, PersonPage)
    def post(self, data):
        """Find persons by anything, personal data included, in the body (never in a URL,
        docs/requirements.md R26): ``q`` as typed in the search box (an ID number, a phone, a name
        with the last four digits of the ID number ``张三 002X``, an address, a name or
        pinyin), or the explicit criteria. Masked, within your communities and grids."""
        return _search(current_session(), data)


@persons.route("/persons/<int:person_id>")
class PersonItem(MethodView):
    # Gated by hand: a resident reads their own record, so the document lists no 403
    # (what a narrowed token must carry, issue 15); endpoint() would add one.
    @require_login("registry.person.read")
    @endpoint(persons, errors=(401, 404), descriptions={404: MISSING})
    @persons.doc(security=AUTH)
    @persons.response(200, PersonSchema)
    def get(self, person_id):
        """One person, masked. Staff with registry.person.read see the persons of their
        communities and grids; a resident sees only their own record. Anything else is
        404, as if it did not exist."""
        check_access(person_id=person_id, permission=READ)
        session = current_session()
        view = visible_person(session, person_id)[1]
        session.commit()  # its access-log entry
        return view

    @endpoint(persons, WRITE, errors=(404, 409, 422), descriptions={404: MISSING, 409: REFUSED})
    @persons.arguments(PersonPatch)
    @persons.response(200, PersonSchema)
    def patch(self, data, person_id):
        """Change recorded fields. Send the ``version`` you read: if someone changed the
        record since, 409 with the current version, instead of a silent overwrite. Every
        changed field goes to the history (ID numbers and phones masked there)."""
        session = current_session()
        visible_person(session, person_id, log=False)
        version = data.pop("version")
        try:
            registry.update_person(session, person_id, data, expected_version=version,
                                   bus=current_kernel().bus, actor=current_user)
        except RegistryError as exc:
            refuse(session, exc)
        session.commit()
        return _json_person(session, person_id)


@persons.route("/persons/<int:person_id>/reveal")
class PersonReveal(MethodView):
    @endpoint(persons, REVEAL, errors=(404, 422), descriptions={
        404: MISSING,
        422: "No fields or no purpose",
    })
    @persons.arguments(RevealRequest)
    @persons.response(200, PersonSchema)
    def post(self, data, person_id):
        """Show the named fields in full, once, for a stated purpose. One access-log entry
        is written (who, when, which fields, why — never the value); the resident reads
        it at /account/access-log."""
        session = current_session()
        if not 0 < person_id <= MAX_ID:
            abort(404)
        try:
            # the reader checks the place scope first (ScopeError: 404, as for a person
            # that does not exist), then the reveal, and writes the access-log entry
            view = _json_person(session, person_id, data["fields_"], data["purpose"])
        except (RegistryError, ScopeError) as exc:
            refuse(session, exc)
        session.commit()
        return view


@persons.route("/persons/<int:person_id>/move")
class PersonMove(MethodView):
    @endpoint(persons, WRITE, errors=(404, 409, 422), descriptions={
        404: "No such person within your scope, or no such dwelling",
        409: "Stale version, or the move is impossible (closed record, same dwelling, moved out "
             "already)",
    })
    @persons.arguments(MoveRequest)
    @persons.response(200, PersonSchema)
    def post(self, data, person_id):
        """Record a move: the current residence ends, one at ``to_dwelling_id`` starts
        (``null``: the person left the area). Publishes ``registry.person.moved``; an
        account bound to someone who left the community loses its verification."""
        session = current_session()
        visible_person(session, person_id, log=False)
        try:
            registry.move_person(session, person_id, to_dwelling_id=data["to_dwelling_id"],
                                 bus=current_kernel().bus, role=data["role"],
                                 on=data.get("on"),
                                 actor=current_user, expected_version=data.get("version"))
        except RegistryError as exc:
            refuse(session, exc)
        session.commit()
        return _json_person(session, person_id)


@persons.route("/persons/<int:person_id>/death")
class PersonDeath(MethodView):
    @endpoint(persons, WRITE, errors=(404, 409, 422), descriptions={
        404: MISSING,
        409: "Stale version, the record is closed already, or the date is impossible",
    })
    @persons.arguments(DeathRequest)
    @persons.response(200, PersonSchema)
    def post(self, data, person_id):
        """Record a death: the record closes, the residence ends, the person leaves their
        household. Publishes ``registry.person.deceased``."""
        session = current_session()
        visible_person(session, person_id, log=False)
        try:
            registry.record_death(session, person_id, bus=current_kernel().bus,
                                  died_on=data.get("died_on"), actor=current_user,
                                  expected_version=data.get("version"))
        except RegistryError as exc:
            refuse(session, exc)
        session.commit()
        return _json_person(session, person_id)
