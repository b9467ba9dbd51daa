"""Registry data scopes: the units in which plugins declare what registry data they read.

A plugin lists the scopes it needs in ``PluginInfo.data_scopes``; the kernel refuses a
plugin that names an unknown scope, so the declaration stays meaningful (an operator can
read from ``shequ plugins list`` exactly which personal data each plugin may touch).
"""

from __future__ import annotations

SCOPES: dict[str, str] = {
    "registry.person.basic": "Name, sex, age band, community and grid of a person",
    "registry.person.identity": "ID number and birth date (sensitive; reads are logged)",
    "registry.person.contact": "Phone number (sensitive; reads are logged)",
    "registry.household": "Households: head, members and their relation to the head",
    "registry.dwelling": "Buildings, units, dwellings and who lives where",
    "registry.organisation": "Organisations: name, credit code, type, legal representative",
    "registry.grid": "Streets, communities and grids (administrative hierarchy)",
    "registry.ownership": "Dwelling owners (persons, organisations, shares) and exclusive areas",
}
