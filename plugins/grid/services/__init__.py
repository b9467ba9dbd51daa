"""The grid plugin's rules: visit rules (rules.py), who is due (subjects.py), visits,
patrols and referrals (records.py), coverage (coverage.py), subscribers (handlers.py)."""

from plugins.grid.services.common import GridError, today
from plugins.grid.services.coverage import GridCoverage, coverage
from plugins.grid.services.records import (
    CATEGORIES,
    KINDS,
    MET,
    create_patrol,
    create_visit,
    findings_of,
    get_finding,
    get_patrol,
    get_visit,
    patrols_query,
    refer_finding,
    visible_person,
    visits_query,
)
from plugins.grid.services.rules import active_rules, all_rules, rule_map
from plugins.grid.services.subjects import (
    Task,
    all_tasks,
    due_tasks,
    refresh_registry_rules,
    upsert_subject,
)

__all__ = [
    "CATEGORIES", "KINDS", "MET", "GridCoverage", "GridError", "Task", "active_rules",
    "all_rules", "all_tasks", "coverage", "create_patrol", "create_visit", "due_tasks",
    "findings_of", "get_finding", "get_patrol", "get_visit", "patrols_query",
    "refer_finding", "refresh_registry_rules", "rule_map", "today", "upsert_subject",
    "visible_person", "visits_query",
]
