"""How plugins read the registry: a :class:`RegistryReader` bound to the plugin, its
declared data scopes, the actor and a purpose.

The registry is the one source of truth and plugins never copy it (docs/architecture.md,
"Person data stays in the registry"), so every read passes here:

* a read outside the plugin's ``PluginInfo.data_scopes`` raises :class:`ScopeError` — the
  declaration an operator sees in ``shequ plugins list`` is what is enforced;
* a staff actor only reads persons in their communities and grids (``enforce_place``;
  a plugin whose own rules grant access — a merchant and the customer who ordered — passes
  ``enforce_place=False`` and is still logged under the real actor);
* sensitive values (ID number, birth date, phone, address) are masked unless revealed;
* every person shown is written to that person's access log with the plugin (``via``)
  and purpose — masked displays as masked entries, reveals as full ones, a list or a
  search one entry per person, all of a call in one upsert at the commit (the rule and
  its exceptions: :mod:`core.registry.present`);
* in the assisted channel the agent's permission and places decide, never the
  resident's: the resident's own record is visible (the session was granted for them),
  masked unless the agent may reveal it, and every read names the agent.

::

    reader = RegistryReader.for_plugin(session, kernel, "gov_services",
                                       actor=current_user, purpose="application 42")
    person = reader.person(user.person_id, reveal=["id_number"])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.local import LocalProxy

from core.db import local_today
from core.registry.errors import RegistryError, ScopeError
from core.registry.models import (
    Building,
    Change,
    Community,
    Dwelling,
    Grid,
    Household,
    Organisation,
    Person,
    Street,
    Unit,
)
from core.registry.present import (
    ALL_SCOPES,
    Places,
    actor_scopes,
    assisted,
    check_reveal,
    display_entry,
    load_person,
    log_displays,
    person_view,
    shown_fields,
)
from core.registry.scopes import SCOPES
from core.registry.search import SearchPage, search_persons


class RegistryReader:
    """Registry reads for one plugin (``"core"`` for core's own pages and API), one actor
    (``None`` for a system job) and one purpose."""

    def __init__(
        self,
        session: Session,
        *,
        plugin: str,
        scopes: Iterable[str],
        actor: Any = None,
        purpose: str = "",
        facts: Mapping[str, Any] | None = None,
        enforce_place: bool = True,
    ):
        scopes = frozenset(scopes)
        unknown = sorted(scopes - set(SCOPES))
        if unknown:
            raise ScopeError(f"unknown data scopes: {', '.join(unknown)}")
        self.session = session
        self.plugin = plugin
        self.scopes = scopes
        # The account itself, not ``current_user``'s proxy: a read touches the actor ~15
        # times (scope, masking, access-log entry), each a Flask-Login lookup through the
        # proxy (12 % of an API read's time, docs/performance.md).
        self.actor = actor._get_current_object() if isinstance(actor, LocalProxy) else actor
        self.purpose = (purpose or "").strip()
        self.facts = facts
        self.enforce_place = enforce_place

    @classmethod
    def for_plugin(
        cls,
        session: Session,
        kernel: Any,
        plugin_id: str,
        *,
        actor: Any = None,
        purpose: str = "",
        facts: Mapping[str, Any] | None = None,
        enforce_place: bool = True,
    ) -> RegistryReader:
        """A reader with exactly the scopes ``plugin_id`` declared (core has them all)."""
        if plugin_id == "core":
            scopes: Iterable[str] = ALL_SCOPES
        else:
            scopes = kernel.plugins.info(plugin_id).data_scopes
        return cls(session, plugin=plugin_id, scopes=scopes, actor=actor, purpose=purpose,
                   facts=facts, enforce_place=enforce_place)

    # ------------------------------------------------------------------ checks

    def require(self, *scopes: str) -> None:
        missing = [s for s in scopes if s not in self.scopes]
        if missing:
            raise ScopeError(
                f"plugin {self.plugin} did not declare the data scope(s) {', '.join(missing)}"
            )

    def _checks_place(self) -> frozenset[tuple[str, str]] | None:
        """The actor's ``(kind, code)`` places when reads must be checked against them;
        ``None`` when every person is visible (a system job, ``enforce_place=False``, or a
        scope ``("all", "")``)."""
        actor = self.actor
        if actor is None or not self.enforce_place:
            return None
        scopes = actor_scopes(actor)  # the agent's in the assisted channel
        return None if ("all", "") in scopes else scopes

    def _in_place(self, person: Person, places: Places | None = None) -> bool:
        """Whether the actor may see ``person``: their own record (in the assisted
        channel: the resident's, masked unless the agent may reveal), or a community or
        grid of theirs (of the agent's). ``places`` (built for the view anyway) supplies
        the codes; without it one select loads them."""
        scopes = self._checks_place()
        if scopes is None or getattr(self.actor, "person_id", None) == person.id:
            return True
        if not scopes:
            return False
        if places is None:
            places = Places(self.session, [person], addresses=False)
        return bool(places.codes(person) & scopes)

    def _visible(self, person: Person | None, places: Places | None = None) -> Person:
        if person is None or not self._in_place(person, places):
            # One error for "no such person" and "not yours": existence must not leak.
            raise ScopeError("no such person within your scope")
        return person

    def _places(self, persons: list[Person]) -> Places:
        return Places(self.session, persons, addresses="registry.dwelling" in self.scopes)

    # ------------------------------------------------------------------ persons

    def person(self, person_id: int, *, reveal: Iterable[str] = ()) -> dict[str, Any]:
        """One person as :func:`person_view` shows them within the plugin's scopes.

        One select loads the person with their places (community, grid, address), which
        serve both the scope check and the view."""
        return self._person(person_id, reveal)[1]

    def _person(self, person_id: int, reveal: Iterable[str] = (), *, log: bool = True
                ) -> tuple[Person, dict[str, Any]]:
        """:meth:`person` and the row behind it, for core's own pages and API (which
        also show its residences and history); never handed to a plugin. ``log=False``:
        a check before a change, whose answer is logged when it is shown."""
        self.require("registry.person.basic")
        person, places = load_person(self.session, person_id,
                                     addresses="registry.dwelling" in self.scopes)
        person = self._visible(person, places)
        return person, self._view([person], reveal, places, log=log)[0]

    def persons(self, ids: Iterable[int], *, reveal: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Several persons (those outside the actor's place scope are left out)."""
        self.require("registry.person.basic")
        ids = list(ids)
        if not ids:
            return []
        rows = list(self.session.scalars(
            select(Person).where(Person.id.in_(ids)).order_by(Person.id)))
        return self._visible_views(rows, reveal)

    def _visible_views(self, rows: list[Person], reveal: Iterable[str]
                       ) -> list[dict[str, Any]]:
        """The views of those of ``rows`` the actor may see, with one :class:`Places`
        for the check and the views."""
        places = self._places(rows)
        return self._view([p for p in rows if self._in_place(p, places)], reveal, places)

    def _view(self, persons: list[Person], reveal: Iterable[str],
              places: Places | None = None, *, log: bool = True) -> list[dict[str, Any]]:
        """The views of ``persons`` (reveals checked first, all or none) and their
        access-log entries, queued for one upsert."""
        wanted = list(reveal)
        if places is None:
            places = self._places(persons)
        out, entries = [], []
        for person in persons:
            shown = check_reveal(self.actor, person.id, wanted, self.scopes, self.purpose) \
                if wanted else []
            if shown:
                self._agent_may_reveal(person, places)
            out.append(person_view(person, scopes=self.scopes, reveal=shown, places=places))
            if log:
                entries.append(self._entry(person, shown))
        log_displays(self.session, entries)
        return out

    def _entry(self, person: Person, revealed: list[str]) -> dict[str, Any] | None:
        return display_entry(self.actor, person, fields=shown_fields(person, self.scopes),
                             revealed=revealed, purpose=self.purpose, via=self.plugin,
                             facts=self.facts)

    def _agent_may_reveal(self, person: Person, places: Places) -> None:
        """In the assisted channel a reveal needs the person within the AGENT's places
        (the resident's own record is visible to the session, not revealable by it)."""
        if not assisted(self.actor) or not self.enforce_place:
            return
        scopes = actor_scopes(self.actor)
        if ("all", "") not in scopes and not (places.codes(person) & scopes):
            raise ScopeError("revealing needs the person within your own communities and "
                             "grids")

    def search(self, query: str = "", *, reveal: Iterable[str] = (), **criteria: Any
               ) -> SearchPage:
        """:func:`core.registry.search.search_persons` within this reader's scopes."""
        self.require("registry.person.basic")
        if criteria.get("id_number") or criteria.get("id_last4"):
            self.require("registry.person.identity")
        if criteria.get("phone"):
            self.require("registry.person.contact")
        if criteria.get("address"):
            self.require("registry.dwelling")
        return search_persons(
            self.session, actor=self.actor, restrict_place=self.enforce_place, query=query,
            reveal=reveal, purpose=self.purpose, via=self.plugin, scopes=self.scopes,
            facts=self.facts, **criteria,
        )

    def age(self, person_id: int, *, on: date | None = None) -> int | None:
        """A person's exact age (eligibility rules); needs the identity scope."""
        self.require("registry.person.basic", "registry.person.identity")
        person = self._visible(self.session.get(Person, person_id))
        from core.registry.present import age_on

        return age_on(person.birth_date, on or local_today())

    # ------------------------------------------------------------------ households, places

    def household(self, person_id: int) -> dict[str, Any] | None:
        """The person's household: number, head and members with their relation."""
        self.require("registry.person.basic", "registry.household")
        person = self._visible(self.session.get(Person, person_id))
        if person.household_id is None:
            return None
        household = self.session.get(Household, person.household_id)
        members = self.session.scalars(
            select(Person).where(Person.household_id == household.id)
            .order_by(Person.relation, Person.birth_date, Person.id)
        ).all()
        return {
            "id": household.id,
            "number": household.number,
            "kind": household.kind,
            "head_id": household.head_id,
            "dwelling_id": household.dwelling_id,
            "members": self._view(list(members), ()),
        }

    def residents(self, *, dwelling_id: int | None = None, building_id: int | None = None
                  ) -> list[dict[str, Any]]:
        """Active persons living in a dwelling or a building (one vote per dwelling,
        who to notify about a lift)."""
        self.require("registry.person.basic", "registry.dwelling")
        query = select(Person).where(Person.status == "active")
        if dwelling_id is not None:
            query = query.where(Person.dwelling_id == dwelling_id)
        elif building_id is not None:
            query = query.join(Dwelling, Dwelling.id == Person.dwelling_id).join(
                Unit, Unit.id == Dwelling.unit_id).where(Unit.building_id == building_id)
        else:
            raise RegistryError("Name a dwelling or a building.", "dwelling")
        rows = self.session.scalars(query.order_by(Person.dwelling_id, Person.id)).all()
        return self._visible_views(list(rows), ())

    def buildings(self, community: str) -> list[dict[str, Any]]:
        self.require("registry.dwelling")
        rows = self.session.execute(
            select(Building).join(Community, Community.id == Building.community_id)
            .where(Community.code == community).order_by(Building.estate, Building.name)
        ).scalars()
        return [{"id": b.id, "estate": b.estate, "name": b.name, "address": b.address,
                 "grid_id": b.grid_id} for b in rows]

    def communities(self) -> list[dict[str, Any]]:
        """Every community with its street. ``id`` is there for plugins that put the
        community in an event payload or a row of their own (they never read the table
        directly)."""
        self.require("registry.grid")
        rows = self.session.execute(
            select(Community.id, Community.code, Community.name, Street.code, Street.name)
            .join(Street, Street.id == Community.street_id)
            .order_by(Community.code)
        )
        return [{"id": i, "code": code, "name": name, "street": street,
                 "street_name": street_name} for i, code, name, street, street_name in rows]

    def grids(self, community: str | None = None) -> list[dict[str, Any]]:
        self.require("registry.grid")
        query = select(Grid, Community.code).join(Community, Community.id == Grid.community_id)
        if community:
            query = query.where(Community.code == community)
        return [{"code": g.code, "name": g.name, "community": code}
                for g, code in self.session.execute(query.order_by(Grid.code))]

    # ------------------------------------------------------------------ organisations

    def organisation(self, org_id: int | None = None, *, credit_code: str | None = None
                     ) -> dict[str, Any] | None:
        self.require("registry.organisation")
        if org_id is not None:
            org = self.session.get(Organisation, org_id)
        elif credit_code:
            from core.registry.validation import normalise_credit_code

            org = self.session.scalar(select(Organisation).where(
                Organisation.credit_code == normalise_credit_code(credit_code)))
        else:
            raise RegistryError("Name an organisation.", "organisation")
        return None if org is None else self._org(org)

    def organisations(self, *, community: str | None = None, limit: int = 50
                      ) -> list[dict[str, Any]]:
        self.require("registry.organisation")
        query = select(Organisation).where(Organisation.status == "active")
        if community:
            query = query.join(Community, Community.id == Organisation.community_id).where(
                Community.code == community)
        rows = self.session.scalars(query.order_by(Organisation.name).limit(min(limit, 500)))
        return [self._org(o) for o in rows]

    def _org(self, org: Organisation) -> dict[str, Any]:
        community = self.session.get(Community, org.community_id) if org.community_id else None
        rep = None
        if org.legal_rep_id is not None and "registry.person.basic" in self.scopes:
            person = self.session.get(Person, org.legal_rep_id)
            rep = {"id": person.id, "name": person.name} if person else None
            if person is not None:  # the representative is a named person: logged
                log_displays(self.session, [display_entry(
                    self.actor, person, fields=["name"], revealed=(), purpose=self.purpose,
                    via=self.plugin, facts=self.facts)])
        return {
            "id": org.id, "name": org.name, "credit_code": org.credit_code, "type": org.type,
            "address": org.address, "status": org.status, "version": org.version,
            "community": community.code if community else None, "legal_rep": rep,
        }

    # ------------------------------------------------------------------ ownership

    def _log_owner_reads(self, person_ids: Iterable[int]) -> None:
        """Each owner shown is written to their access log (masked entry "ownership"),
        like any other read of a person through the reader."""
        rows = list(self.session.scalars(select(Person).where(Person.id.in_(set(person_ids)))))
        log_displays(self.session, [display_entry(
            self.actor, p, fields=["ownership"], revealed=(), purpose=self.purpose,
            via=self.plugin, facts=self.facts) for p in rows])

    def owners(self, dwelling_id: int) -> list[dict[str, Any]]:
        """The current owners of a dwelling (``person_id`` or ``organisation_id``, share,
        since) and its exclusive area, for the ``registry.ownership`` scope. A staff
        actor sees only dwellings of their communities and grids."""
        self.require("registry.ownership")
        from core.registry.ownership import owners_of

        dwelling = self.session.get(Dwelling, dwelling_id)
        if dwelling is None or not self._dwelling_in_place(dwelling):
            raise ScopeError("no such dwelling within your scope")
        out = [{**o, "area_m2": dwelling.area_m2} for o in owners_of(self.session, dwelling_id)]
        self._log_owner_reads(o["person_id"] for o in out if o["person_id"])
        return out

    def owned_dwellings(self, person_id: int) -> list[dict[str, Any]]:
        """The dwellings a person owns now, with exclusive area and share."""
        self.require("registry.ownership")
        from core.registry.ownership import dwellings_owned_by

        person = self._visible(self.session.get(Person, person_id))
        rows = dwellings_owned_by(self.session, person_id=person.id)
        if "registry.dwelling" not in self.scopes:
            rows = [{k: v for k, v in r.items() if k != "address"} for r in rows]
        self._log_owner_reads([person.id])
        return rows

    def community_owners(self, community: str) -> dict[str, Any]:
        """Every owned dwelling of a community with its exclusive area and current owners
        (ids and shares; an organisation's legal representative as ``legal_rep_id``), and
        how many dwellings have no owner recorded — an owners' assembly's electorate.
        Every owning person is access-logged (a system read logs nothing: nobody sees)."""
        self.require("registry.ownership")
        from core.registry.ownership import community_ownership, unowned_count

        scopes = self._checks_place()
        if scopes is not None and ("community", community) not in scopes:
            raise ScopeError("no such community within your scope")
        dwellings = community_ownership(self.session, community)
        org_ids = {o["organisation_id"] for d in dwellings for o in d["owners"]
                   if o["organisation_id"]}
        reps = {oid: rep for oid, rep in self.session.execute(
            select(Organisation.id, Organisation.legal_rep_id)
            .where(Organisation.id.in_(org_ids)))} if org_ids else {}
        for d in dwellings:
            for o in d["owners"]:
                o["legal_rep_id"] = reps.get(o["organisation_id"])
        self._log_owner_reads(o["person_id"] for d in dwellings for o in d["owners"]
                              if o["person_id"])
        return {"dwellings": dwellings,
                "unowned": unowned_count(self.session, community)}

    def _dwelling_in_place(self, dwelling: Dwelling) -> bool:
        scopes = self._checks_place()
        if scopes is None or ("all", "") in scopes:
            return True
        community = self.session.get(Community, dwelling.community_id)
        grid = self.session.get(Grid, dwelling.grid_id) if dwelling.grid_id else None
        return bool({("community", community.code if community else ""),
                     ("grid", grid.code if grid else "")} & scopes)

    def state_marker(self) -> int:
        """The registry's state as a number: the newest ``registry_change`` id (0 when
        empty). Every registry write adds a change row, so two equal markers mean the
        same registry; a frozen electorate keeps the marker it was computed at."""
        return int(self.session.scalar(select(func.max(Change.id))) or 0)
