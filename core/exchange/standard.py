"""The published data standard, generated from the code's own schemas so it cannot drift.

Three kinds of schema, each as JSON Schema (draft 2020-12):

* ``entity.*`` — registry entities as the API shows them (``core.registry.api`` schemas);
* ``event.*`` — every event type declared on the bus, core's and enabled plugins', with
  its marshmallow payload schema, plus ``envelope`` (the body a client receives);
* ``code.*`` — code lists (hukou types, GB/T 4761 relations, GB 3304 ethnicities ...) and
  identifier formats (division codes, ID numbers).

Each schema has a version: core's schemas carry :data:`STANDARD_VERSION`, a plugin's
events carry the plugin's version. ``standard.lock.json`` (committed next to this file)
records a fingerprint and version per schema; a test fails when a fingerprint changes and
its version does not, so a consumer can trust that an unchanged version means an unchanged
shape. ``shequ exchange standard --lock`` refreshes the lock (and refuses the same thing).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marshmallow import Schema, fields, validate

#: Bump when a core schema (entity, core event, code list, envelope) changes shape.
STANDARD_VERSION = "1.0.0"
LOCK_FILE = Path(__file__).resolve().parent / "standard.lock.json"
SCHEMA_BASE = "/api/v1/exchange/schemas/"
#: Events used inside the exchange itself; never offered to clients.
INTERNAL_PREFIX = "core.webhook."

_SIMPLE: list[tuple[type, dict[str, Any]]] = [
    (fields.Boolean, {"type": "boolean"}),
    (fields.Integer, {"type": "integer"}),
    (fields.Float, {"type": "number"}),
    (fields.Decimal, {"type": "number"}),
    (fields.Number, {"type": "number"}),
    (fields.DateTime, {"type": "string", "format": "date-time"}),
    (fields.Date, {"type": "string", "format": "date"}),
    (fields.Time, {"type": "string", "format": "time"}),
    (fields.Email, {"type": "string", "format": "email"}),
    (fields.Url, {"type": "string", "format": "uri"}),
    (fields.UUID, {"type": "string", "format": "uuid"}),
    (fields.String, {"type": "string"}),
    (fields.Dict, {"type": "object"}),
]


def field_schema(field: fields.Field) -> dict[str, Any]:
    """JSON Schema for one marshmallow field: type, nullability, enumerations, bounds."""
    out: dict[str, Any]
    if isinstance(field, fields.Nested):
        nested = field.nested
        nested_schema = nested() if isinstance(nested, type) else nested
        if callable(nested_schema) and not isinstance(nested_schema, Schema):
            nested_schema = nested_schema()
        out = schema_to_json(nested_schema)
        if field.many:
            out = {"type": "array", "items": out}
    elif isinstance(field, fields.List):
        out = {"type": "array", "items": field_schema(field.inner)}
    elif isinstance(field, fields.Enum):
        out = {"type": "string", "enum": [m.name for m in field.enum]}
    else:
        out = {}
        for kind, spec in _SIMPLE:
            if isinstance(field, kind):
                out = dict(spec)
                break
    validators = field.validators if hasattr(field, "validators") else []
    for v in validators:
        if isinstance(v, validate.OneOf):
            out["enum"] = [c for c in v.choices]
        elif isinstance(v, validate.Length):
            key = "Items" if out.get("type") == "array" else "Length"
            if v.min is not None:
                out[f"min{key}"] = v.min
            if v.max is not None:
                out[f"max{key}"] = v.max
        elif isinstance(v, validate.Range):
            if v.min is not None:
                out["minimum"] = v.min
            if v.max is not None:
                out["maximum"] = v.max
        elif isinstance(v, validate.Regexp):
            out["pattern"] = v.regex.pattern
    description = (field.metadata or {}).get("description")
    if description:
        out["description"] = str(description)
    if field.allow_none and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def schema_to_json(schema: Schema | type[Schema], *, title: str = "") -> dict[str, Any]:
    """JSON Schema for a marshmallow schema (its dump keys: ``data_key`` when set)."""
    instance = schema() if isinstance(schema, type) else schema
    props: dict[str, Any] = {}
    required: list[str] = []
    for name, field in instance.fields.items():
        if field.load_only:
            continue
        key = field.data_key or name
        props[key] = field_schema(field)
        if field.required:
            required.append(key)
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if title:
        out["title"] = title
    return out


@dataclass(frozen=True)
class StandardSchema:
    """One published schema: ``name`` (``event.registry.person.moved``), its ``kind``,
    ``owner`` (core or a plugin id), ``version``, one-line ``doc`` and the JSON Schema."""

    name: str
    kind: str  # entity | event | code | envelope
    owner: str
    version: str
    doc: str
    schema: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        canonical = json.dumps(
            self.schema, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def document(self) -> dict[str, Any]:
        """The JSON Schema as served: with ``$schema``, ``$id``, title and version."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_BASE}{self.name}",
            "title": self.name,
            "description": self.doc,
            "x-version": self.version,
            "x-owner": self.owner,
            **self.schema,
        }


def _code_list(table: dict[str, Any]) -> dict[str, Any]:
    values = list(table)
    labels = {k: (v if isinstance(v, str) else f"{v[0]} / {v[1]}") for k, v in table.items()}
    return {"type": "string", "enum": values, "x-labels": labels}


def code_schemas() -> list[tuple[str, str, dict[str, Any]]]:
    """(name, doc, JSON Schema) of every registry code list and identifier format."""
    from core.registry import codes

    lists = [
        ("hukou_type", "Hukou (household registration) type of a person.", codes.HUKOU_TYPES),
        (
            "relation",
            "Relation to the head of household, GB/T 4761 (02 is the head).",
            codes.RELATIONS,
        ),
        ("id_type", "Identity document type.", codes.ID_TYPES),
        ("sex", "Sex, as derived from a GB 11643 ID number.", codes.SEXES),
        ("person_status", "Status of a person record.", codes.STATUSES),
        ("residence_role", "How a person lives in a dwelling.", codes.RESIDENCE_ROLES),
        ("dwelling_use", "Use of a dwelling.", codes.DWELLING_USES),
        ("household_kind", "Kind of household.", codes.HOUSEHOLD_KINDS),
        ("organisation_type", "Kind of organisation.", codes.ORG_TYPES),
        ("ethnicity", "Ethnic group, GB 3304 two-digit code.", codes.ETHNICITIES),
    ]
    out = [(f"code.{name}", doc, _code_list(table)) for name, doc, table in lists]
    out += [
        (
            "code.community_code",
            "Community (residents' committee) code: the 12-digit statistical division code "
            "(GB/T 2260 county prefix + street + community).",
            {"type": "string", "pattern": "^[1-9][0-9]{11}$"},
        ),
        (
            "code.street_code",
            "Street (sub-district) code: 9-digit statistical division code.",
            {"type": "string", "pattern": "^[1-9][0-9]{8}$"},
        ),
        (
            "code.id_number",
            "Resident ID number, GB 11643: 17 digits and a MOD 11-2 check character (0-9 or X).",
            {"type": "string", "pattern": "^[1-9][0-9]{16}[0-9X]$"},
        ),
        (
            "code.credit_code",
            "Unified social credit code of an organisation, GB 32100 (18 characters).",
            {
                "type": "string",
                "pattern": "^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$",
            },
        ),
    ]
    return out


class Envelope(Schema):
    """What a client receives, by webhook or from the pull feed."""

    id = fields.Integer(required=True, metadata={"description": "Event id: de-duplicate on it"})
    type = fields.String(required=True, metadata={"description": "Event type name"})
    created_at = fields.DateTime(required=True, metadata={"description": "When it happened (UTC)"})
    standard_version = fields.String(required=True)
    delivery_id = fields.Integer(
        metadata={"description": "Webhooks only: this delivery (a redelivery has a new one)"}
    )
    data = fields.Dict(
        required=True,
        metadata={
            "description": "The event's payload, without the fields outside the client's scopes"
        },
    )


#: Field names whose values come from a code list of the standard.
CODE_REFS = {
    "hukou_type": "code.hukou_type",
    "relation": "code.relation",
    "sex": "code.sex",
    "id_type": "code.id_type",
    "ethnicity": "code.ethnicity",
    "use": "code.dwelling_use",
    "credit_code": "code.credit_code",
    "community": "code.community_code",
    "from_community": "code.community_code",
    "to_community": "code.community_code",
}


def _annotate(schema: dict[str, Any]) -> dict[str, Any]:
    """Point fields at their code lists (``x-code``), nested objects included."""
    for key, spec in schema.get("properties", {}).items():
        if key in CODE_REFS and spec.get("type") in ("string", ["string", "null"]):
            spec["x-code"] = CODE_REFS[key]
        _annotate(spec)
        if isinstance(spec.get("items"), dict):
            _annotate(spec["items"])
    return schema


def collect(kernel: Any) -> list[StandardSchema]:
    """Every schema of the standard for this app (its enabled plugins included), sorted."""
    from core.registry import api as registry_api

    out: list[StandardSchema] = []
    entities = [
        ("person", registry_api.PersonSchema, "A person (sensitive values masked)."),
        ("household", registry_api.HouseholdSchema, "A household and its members."),
        ("building", registry_api.BuildingSchema, "A building with its units and dwellings."),
        ("dwelling", registry_api.DwellingSchema, "A dwelling and who lives there."),
        ("organisation", registry_api.OrganisationSchema, "An organisation (legal person)."),
    ]
    for name, schema, doc in entities:
        out.append(
            StandardSchema(
                f"entity.{name}",
                "entity",
                "core",
                STANDARD_VERSION,
                doc,
                _annotate(schema_to_json(schema)),
            )
        )
    for name, doc, schema in code_schemas():
        out.append(StandardSchema(name, "code", "core", STANDARD_VERSION, doc, schema))
    out.append(
        StandardSchema(
            "envelope",
            "envelope",
            "core",
            STANDARD_VERSION,
            Envelope.__doc__ or "",
            schema_to_json(Envelope),
        )
    )
    for etype in kernel.bus.types.values():
        if etype.name.startswith(INTERNAL_PREFIX):
            continue
        owner = etype.owner
        version = STANDARD_VERSION if owner == "core" else kernel.plugins.info(owner).version
        out.append(
            StandardSchema(
                f"event.{etype.name}",
                "event",
                owner,
                version,
                etype.doc,
                _annotate(schema_to_json(etype.schema)),
            )
        )
    return sorted(out, key=lambda s: s.name)


def by_name(kernel: Any) -> dict[str, StandardSchema]:
    return {s.name: s for s in collect(kernel)}


# ---------------------------------------------------------------------------- the lock


def lock_data(schemas: list[StandardSchema]) -> dict[str, Any]:
    return {
        "standard_version": STANDARD_VERSION,
        "schemas": {s.name: {"version": s.version, "fingerprint": s.fingerprint} for s in schemas},
    }


def read_lock(path: Path = LOCK_FILE) -> dict[str, Any]:
    if not path.exists():
        return {"standard_version": "", "schemas": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def unbumped_changes(schemas: list[StandardSchema], lock: dict[str, Any]) -> list[str]:
    """Schemas whose shape changed while their version stayed the one in the lock."""
    locked = lock.get("schemas", {})
    return [
        s.name
        for s in schemas
        if s.name in locked
        and locked[s.name]["fingerprint"] != s.fingerprint
        and locked[s.name]["version"] == s.version
    ]


def write_lock(schemas: list[StandardSchema], path: Path = LOCK_FILE) -> None:
    path.write_text(
        json.dumps(lock_data(schemas), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


# ---------------------------------------------------------------------------- markdown


def _type(spec: dict[str, Any]) -> str:
    t = spec.get("type", "any")
    types = t if isinstance(t, list) else [t]
    parts = []
    for one in types:
        if one == "array":
            parts.append(f"array of {_type(spec.get('items', {}))}")
        elif one == "string" and "format" in spec:
            parts.append(f"string ({spec['format']})")
        else:
            parts.append(str(one))
    return " or ".join(parts)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fields_table(schema: dict[str, Any]) -> list[str]:
    props = schema.get("properties", {})
    if not props:
        return ["(no fields)", ""]
    required = set(schema.get("required", []))
    lines = ["| Field | Type | Required | Notes |", "|---|---|---|---|"]
    for key, spec in props.items():
        notes = []
        if "enum" in spec:
            notes.append("one of " + ", ".join(f"`{v}`" for v in spec["enum"]))
        if spec.get("x-code"):
            notes.append(f"code list `{spec['x-code']}`")
        if "pattern" in spec:
            notes.append(f"pattern `{spec['pattern']}`")
        if spec.get("description"):
            notes.append(spec["description"])
        if spec.get("type") == "object" and spec.get("properties"):
            notes.append("object: " + ", ".join(spec["properties"]))
        if spec.get("type") == "array" and spec.get("items", {}).get("properties"):
            notes.append("items: " + ", ".join(spec["items"]["properties"]))
        lines.append(
            f"| `{key}` | {_cell(_type(spec))} | "
            f"{'yes' if key in required else 'no'} | {_cell('; '.join(notes))} |"
        )
    lines.append("")
    return lines


def render_markdown(schemas: list[StandardSchema]) -> str:
    """docs/data-standard.md: the whole standard as one page."""
    from core.exchange.scoping import required_scope

    out = [
        "# Shequ data standard",
        "",
        f"Version **{STANDARD_VERSION}**. Generated by `shequ exchange standard` from the code's "
        "own schemas; do not edit by hand (a test compares this file with the code).",
        "",
        "Every schema below is also served as JSON Schema at "
        f"`{SCHEMA_BASE}<name>`, and listed at `/api/v1/exchange/schemas`. Core schemas "
        "carry the standard's version; plugin events carry their plugin's version. A schema "
        "whose version is unchanged has an unchanged shape (a test enforces it). How clients "
        "receive events is in [exchange.md](exchange.md).",
        "",
        "## Contents",
        "",
    ]
    sections = [
        ("entity", "Registry entities"),
        ("envelope", "Event envelope"),
        ("event", "Events"),
        ("code", "Code lists and identifier formats"),
    ]
    for kind, title in sections:
        out.append(
            f"- [{title}](#{title.lower().replace(' ', '-')}): "
            f"{sum(1 for s in schemas if s.kind == kind)}"
        )
    out.append("")
    for kind, title in sections:
        out += [f"## {title}", ""]
        for s in (x for x in schemas if x.kind == kind):
            out += [f"### `{s.name}`", "", f"{s.doc}", ""]
            meta = f"Version {s.version}, owner `{s.owner}`"
            if kind == "event":
                scope = required_scope(s.schema.get("properties", {}))
                meta += f", scope needed: `{scope}`" if scope else ", no registry scope needed"
            out += [meta + ".", ""]
            if kind == "code":
                if "enum" in s.schema:
                    out += ["| Code | Label |", "|---|---|"]
                    labels = s.schema.get("x-labels", {})
                    out += [f"| `{v}` | {_cell(labels.get(v, ''))} |" for v in s.schema["enum"]]
                    out.append("")
                else:
                    out += [f"Format: pattern `{s.schema['pattern']}`.", ""]
            else:
                out += _fields_table(s.schema)
    return "\n".join(out).rstrip() + "\n"
