"""Who is offered what: the ``"proactive"`` rules of each service in
``data/services.json`` and the one evaluator for all of them.

The rules are data, because who qualifies differs from place to place and changes with
policy: adding a service to the offers, or changing who gets one, is an edit of the
catalogue, never of the program. A service's ``"proactive"`` is a list of conditions that
must all hold; each condition is an object with a ``rule`` from :data:`VOCABULARY`:

====================  ======================================================================
``age_min``           age ``value`` or over (``param``: the service's overridable threshold,
                      so a community's own age for the longevity allowance counts here too)
``age_max``           age ``value`` or under (0: babies under one)
``sex``               ``"M"`` or ``"F"``
``hukou``             household-registration type (``local``, ``floating``, ``overseas``,
                      ``unregistered``), or a list of them
``in_database``       an active member of the thematic database ``value`` (``disabled``,
                      ``dibao``, ``unemployed``, ``migrants``, ...)
``not_in_database``   not an active member of ``value``
``living_alone``      the only active member of their household (or in none)
``household_size_min`` / ``household_size_max``  active household members, the person counted
``household_member_in``  another active member of the household is in database ``value``
``all`` / ``any``     every / at least one of the conditions in ``of``
====================  ======================================================================

Whatever the rules say, nobody is offered a service whose benefit they hold already (an
active membership from it), for which they have an open application, or which their
community switched off.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugins.gov_services.catalogue import DATA_FILE
from plugins.gov_services.models import Membership

VOCABULARY = (
    "age_min",
    "age_max",
    "sex",
    "hukou",
    "in_database",
    "not_in_database",
    "living_alone",
    "household_size_min",
    "household_size_max",
    "household_member_in",
    "all",
    "any",
)


class RuleDataError(ValueError):
    """A ``"proactive"`` rule in the catalogue is malformed (raised at load time)."""


@dataclass
class Facts:
    """What the registry and the thematic databases say about one person, as the rules
    read it: no name, no number, no address."""

    person_id: int
    age: int | None
    sex: str | None
    hukou: str | None
    community: str | None
    grid: str | None
    household_id: int | None = None
    databases: set[str] = field(default_factory=set)
    household_size: int = 1
    household_databases: set[str] = field(default_factory=set)
    #: The services whose benefit the person holds now (an active membership from them).
    holding: set[str] = field(default_factory=set)


def load_rules(path: Any = DATA_FILE) -> dict[str, list[dict[str, Any]]]:
    """``{service code: [condition, ...]}`` for every service that has offers, checked
    against the vocabulary (a typo stops start-up instead of silently offering nothing)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, list[dict[str, Any]]] = {}
    for raw in data["services"]:
        rules = raw.get("proactive")
        if rules is None:
            continue
        if not isinstance(rules, list) or not rules:
            raise RuleDataError(f"service {raw['code']}: proactive must be a non-empty list")
        for r in rules:
            _check(r, raw["code"])
        out[raw["code"]] = rules
    return out


def _check(rule: Any, code: str) -> None:
    if not isinstance(rule, dict) or rule.get("rule") not in VOCABULARY:
        raise RuleDataError(f"service {code}: unknown proactive rule {rule!r}")
    kind = rule["rule"]
    if kind in ("all", "any"):
        if not isinstance(rule.get("of"), list) or not rule["of"]:
            raise RuleDataError(f"service {code}: {kind} needs a list 'of'")
        for r in rule["of"]:
            _check(r, code)
    elif kind != "living_alone" and "value" not in rule and "param" not in rule:
        raise RuleDataError(f"service {code}: {kind} needs a value")


def _limit(rule: dict[str, Any], params: dict[str, Any], sex: str | None) -> Any:
    value = params.get(rule["param"], rule.get("value")) if "param" in rule else rule.get("value")
    if isinstance(value, dict):  # by sex
        return value.get(sex or "", max(value.values()) if value else None)
    return value


def holds(rule: dict[str, Any], facts: Facts, params: dict[str, Any]) -> bool:
    """Whether one condition holds for ``facts`` (``params``: the service's thresholds in
    force in the person's community). Unknown facts (no birth date) never qualify."""
    kind = rule["rule"]
    if kind == "all":
        return all(holds(r, facts, params) for r in rule["of"])
    if kind == "any":
        return any(holds(r, facts, params) for r in rule["of"])
    if kind == "living_alone":
        return facts.household_size <= 1
    value = _limit(rule, params, facts.sex)
    if kind == "age_min":
        return facts.age is not None and value is not None and facts.age >= value
    if kind == "age_max":
        return facts.age is not None and value is not None and facts.age <= value
    if kind == "sex":
        return facts.sex == value
    if kind == "hukou":
        allowed = value if isinstance(value, list) else [value]
        return facts.hukou in allowed
    if kind == "in_database":
        return value in facts.databases
    if kind == "not_in_database":
        return value not in facts.databases
    if kind == "household_size_min":
        return facts.household_size >= value
    if kind == "household_size_max":
        return facts.household_size <= value
    if kind == "household_member_in":
        return value in facts.household_databases
    return False


def qualifies(rules: list[dict[str, Any]], facts: Facts, params: dict[str, Any]) -> bool:
    """All of a service's conditions hold."""
    return all(holds(r, facts, params) for r in rules)


def build_facts(
    session: Session, views: Iterable[dict[str, Any]], households: dict[int, list[int]]
) -> list[Facts]:
    """The facts of the persons in ``views`` (reader views of active persons) with their
    memberships and household facts in two selects: ``households`` maps a household id to
    the ids of its active members (the caller read them, batched)."""
    views = [v for v in views if v.get("status") == "active"]
    member_ids = {m for v in views for m in households.get(v.get("household_id") or 0, ())}
    wanted = {v["id"] for v in views} | member_ids
    dbs: dict[int, set[str]] = defaultdict(set)
    held: dict[int, set[str]] = defaultdict(set)
    for chunk in _chunks(sorted(wanted), 500):
        for pid, database, code in session.execute(
            select(Membership.person_id, Membership.database, Membership.service_code).where(
                Membership.person_id.in_(chunk), Membership.ended_on.is_(None)
            )
        ):
            dbs[pid].add(database)
            held[pid].add(code)
    out = []
    for v in views:
        hid = v.get("household_id")
        members = [m for m in households.get(hid or 0, ()) if m != v["id"]] if hid else []
        others: set[str] = set()
        for m in members:
            others |= dbs.get(m, set())
        out.append(
            Facts(
                person_id=v["id"],
                age=v.get("age"),
                sex=v.get("sex"),
                hukou=v.get("hukou_type"),
                community=v.get("community"),
                grid=v.get("grid"),
                household_id=hid,
                databases=dbs.get(v["id"], set()),
                household_size=1 + len(members),
                household_databases=others,
                holding=held.get(v["id"], set()),
            )
        )
    return out


def households_of(views: Iterable[dict[str, Any]]) -> dict[int, list[int]]:
    """``{household id: [active member ids]}`` from reader views (the whole registry's in
    the daily job, a household's members on an event)."""
    out: dict[int, list[int]] = defaultdict(list)
    for v in views:
        if v.get("household_id") and v.get("status") == "active":
            out[v["household_id"]].append(v["id"])
    return dict(out)


def _chunks(items: list[int], n: int) -> Iterable[list[int]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def rule_counts(rules: dict[str, list[dict[str, Any]]]) -> Counter[str]:
    """How often each rule of the vocabulary is used (the docs' table, a test)."""
    seen: Counter[str] = Counter()

    def walk(items: list[dict[str, Any]]) -> None:
        for r in items:
            seen[r["rule"]] += 1
            if r["rule"] in ("all", "any"):
                walk(r["of"])

    for items in rules.values():
        walk(items)
    return seen
