"""Every feature has an endpoint (issue 20 item 4): the OpenAPI document of an app with
every plugin enabled has an operation for each action a page offers in the features
issue 20 lists — corrections, the registry dashboard and export, exchange-client
administration, surveillance rules, clip registration and retention, the forum,
moderation, finances, questions, evaluation and proposal progress, and the new grid and
volunteers plugins.

Paths are matched by area and keywords (a regular expression on the path within the
area), so resource names can settle without changing this list. A plugin that is not
importable yet (being written) is left out of the app and its items are skipped with the
reason; the expected paths are written now."""

from __future__ import annotations

import importlib
import re

import pytest

from core.testing import build_test_app

PLUGINS = ["gov_services", "commerce", "self_governance", "surveillance", "grid",
           "volunteers", "documents", "matters"]

#: (plugin or "core", feature, method, path within /api/v1 — a regular expression)
FEATURES: list[tuple[str, str, str, str]] = [
    # ---------------------------------------------------------------- registry
    ("core", "a resident files a correction", "POST", r"^/registry/me/corrections$"),
    ("core", "a resident lists their corrections", "GET", r"^/registry/me/corrections$"),
    ("core", "staff list corrections within their places", "GET",
     r"^/registry/corrections$"),
    ("core", "staff read one correction", "GET", r"^/registry/corrections/\{\w+\}$"),
    ("core", "staff decide a correction with a reason", "POST",
     r"^/registry/corrections/\{\w+\}/decision$"),
    ("core", "the registry dashboard's figures", "GET", r"^/registry/dashboard$"),
    ("core", "the registry export", "POST", r"^/registry/export$"),
    # ---------------------------------------------------------------- exchange clients
    ("core", "list exchange clients", "GET", r"^/exchange/clients$"),
    ("core", "register an exchange client", "POST", r"^/exchange/clients$"),
    ("core", "change an exchange client", "PUT", r"^/exchange/clients/\{\w+\}$"),
    ("core", "rotate a client's secret or token", "POST",
     r"^/exchange/clients/\{\w+\}/rotate$"),
    ("core", "suspend a client", "POST", r"^/exchange/clients/\{\w+\}/suspend$"),
    ("core", "resume a client", "POST", r"^/exchange/clients/\{\w+\}/resume$"),
    ("core", "a client's deliveries", "GET", r"^/exchange/clients/\{\w+\}/deliveries$"),
    ("core", "replay a client's events", "POST", r"^/exchange/clients/\{\w+\}/replay$"),
    ("core", "backfill a client's history", "POST", r"^/exchange/clients/\{\w+\}/backfill$"),
    ("core", "failed deliveries of every client", "GET", r"^/exchange/deliveries$"),
    ("core", "redeliver a webhook", "POST", r"^/exchange/deliveries/\{\w+\}/redeliver$"),
    # ---------------------------------------------------------------- surveillance
    ("surveillance", "list early-warning rules", "GET", r"^/surveillance/rules$"),
    ("surveillance", "create a rule", "POST", r"^/surveillance/rules$"),
    ("surveillance", "change or disable a rule", "PATCH", r"^/surveillance/rules/\{\w+\}$"),
    ("surveillance", "register a clip on an incident", "POST",
     r"^/surveillance/incidents/\{\w+\}/clips$"),
    ("surveillance", "list an incident's clips with their purge dates", "GET",
     r"^/surveillance/incidents/\{\w+\}/clips$"),
    ("surveillance", "the retention state and purge schedule", "GET",
     r"^/surveillance/retention$"),
    ("surveillance", "one camera", "GET", r"^/surveillance/cameras/\{\w+\}$"),
    ("surveillance", "a camera's status", "POST", r"^/surveillance/cameras/\{\w+\}/status$"),
    ("surveillance", "the security desk's numbers", "GET", r"^/surveillance/desk$"),
    # ---------------------------------------------------------------- self-governance
    ("self_governance", "the forum: boards and threads", "GET",
     r"^/self[-_]governance/.*(forum|boards|threads)"),
    ("self_governance", "the forum: start a thread or reply", "POST",
     r"^/self[-_]governance/.*(threads|replies|posts)"),
    ("self_governance", "moderation: the queue", "GET", r"^/self[-_]governance/.*moderat"),
    ("self_governance", "moderation: act on a post or thread", "POST",
     r"^/self[-_]governance/.*moderat"),
    ("self_governance", "finances: the published statements", "GET",
     r"^/self[-_]governance/.*(financ|statement)"),
    ("self_governance", "finances: publish a statement", "POST",
     r"^/self[-_]governance/.*(financ\w*|statements)$"),
    ("self_governance", "questions: ask", "POST", r"^/self[-_]governance/.*questions$"),
    ("self_governance", "questions: answer", "POST",
     r"^/self[-_]governance/.*questions/\{\w+\}/answer"),
    ("self_governance", "evaluation: the rounds", "GET", r"^/self[-_]governance/.*evaluat"),
    ("self_governance", "evaluation: rate", "POST",
     r"^/self[-_]governance/.*(evaluat|rating)"),
    ("self_governance", "proposal progress: report it", "POST",
     r"^/self[-_]governance/.*proposals/\{\w+\}/(progress|updates)"),
    ("self_governance", "proposal progress: read it", "GET",
     r"^/self[-_]governance/.*proposals/\{\w+\}(/(progress|updates))?$"),
    # ---------------------------------------------------------------- grid
    ("grid", "the grid worker's task list", "GET", r"^/grid/.*tasks"),
    ("grid", "the task list by household", "GET", r"^/grid/.*households"),
    ("grid", "record a visit", "POST", r"^/grid/.*visits"),
    ("grid", "the visits", "GET", r"^/grid/.*visits"),
    ("grid", "correct a visit record with a reason", "PATCH", r"^/grid/visits/\{\w+\}$"),
    ("grid", "record a patrol", "POST", r"^/grid/.*patrols"),
    ("grid", "correct a patrol record with a reason", "PATCH", r"^/grid/patrols/\{\w+\}$"),
    ("grid", "refer a finding onward", "POST", r"^/grid/.*(refer|findings)"),
    ("grid", "coverage per grid", "GET", r"^/grid/.*coverage"),
    # ---------------------------------------------------------------- volunteers
    ("volunteers", "the activities", "GET", r"^/volunteers/.*activities"),
    ("volunteers", "create an activity", "POST", r"^/volunteers/.*activities$"),
    ("volunteers", "sign up", "POST", r"^/volunteers/.*sign-?up"),
    ("volunteers", "check in attendance", "(POST|PUT|PATCH)", r"^/volunteers/.*attend"),
    ("volunteers", "a resident's own hours", "GET", r"^/volunteers/.*(mine|hours)"),
    ("volunteers", "the yearly summary per community", "GET", r"^/volunteers/.*summary"),
    # ---------------------------------------------------------------- documents
    ("documents", "a resident's own documents", "GET", r"^/documents/mine$"),
    ("documents", "an application's documents for staff", "GET",
     r"^/documents/applications/\{\w+\}$"),
    ("documents", "a document's PDF", "GET", r"^/documents/\{\w+\}/pdf$"),
    ("documents", "revoke a document with a reason", "POST", r"^/documents/\{\w+\}/revoke$"),
    ("documents", "verify a document by its code", "GET", r"^/documents/verify/\{\w+\}$"),
    ("documents", "verify a brought statement, the PDF token or a typed name", "POST",
     r"^/documents/verify$"),
    ("documents", "the public verification keys, current and retired", "GET",
     r"^/documents/keys$"),
    # ---------------------------------------------------------------- matters
    ("matters", "add a department", "POST", r"^/matters/departments$"),
    ("matters", "rename, close or reopen a department", "PATCH",
     r"^/matters/departments/\{\w+\}$"),
    ("matters", "the routing rules", "GET", r"^/matters/routes$"),
    ("matters", "set a category's route and answer limit", "(POST|PUT)", r"^/matters/routes"),
    ("matters", "remove a routing rule", "DELETE", r"^/matters/routes/\{\w+\}$"),
    ("matters", "add a department's member", "POST", r"^/matters/departments/\{\w+\}/members$"),
    ("matters", "remove a department's member", "DELETE",
     r"^/matters/departments/\{\w+\}/members/\{\w+\}$"),
]


def _loadable(pid: str) -> str | None:
    """None when the plugin and its API import; otherwise why not."""
    try:
        module = importlib.import_module(f"plugins.{pid}")
        hook = getattr(module, "register_api", None)
        if hook is not None:
            hook(api=None)  # imports the API modules (it returns blueprints, mounts nothing)
    except Exception as exc:  # any failure means: not importable yet
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    missing = {pid: why for pid in PLUGINS if (why := _loadable(pid)) is not None}
    enabled = [pid for pid in PLUGINS if pid not in missing]
    app, cleanup = build_test_app(tmp_path_factory.mktemp("every"), plugins=enabled,
                                  migrate=False)
    document = app.extensions["shequ"].api.spec.to_dict()
    cleanup()
    operations = [(method.upper(), path.removeprefix("/api/v1"))
                  for path, item in document["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")]
    return {"operations": operations, "missing": missing}


@pytest.mark.parametrize(("plugin", "feature", "method", "pattern"), FEATURES,
                         ids=[f"{p}:{f}" for p, f, _, _ in FEATURES])
def test_every_listed_feature_has_an_operation(spec, plugin, feature, method, pattern):
    assert plugin not in spec["missing"], (  # every listed plugin ships: never skip one
        f"plugin {plugin} does not load ({spec['missing'][plugin]})")
    found = [p for m, p in spec["operations"]
             if re.fullmatch(method, m) and re.search(pattern, p)]
    assert found, (f"no {method} operation for '{feature}' ({plugin}): expected a path "
                   f"under /api/v1 matching {pattern}")


def test_the_document_lists_operations_of_every_enabled_area(spec):
    areas = {p.split("/")[1] for _, p in spec["operations"]}
    assert {"registry", "exchange", "identity"} <= areas
    for pid in PLUGINS:
        if pid not in spec["missing"]:
            assert pid.replace("_", "-") in areas or pid in areas, pid
