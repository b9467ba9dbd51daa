"""The words every part of the services shares: the plugin's permissions, the states and
actions of an application with their labels, the error classes a rule raises, and the
helpers that translate a message and clean a free text. Everything else in the package
imports from here; this module imports nothing of the package.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, date, datetime
from typing import Any

from core.toolkit import N_, RuleError, local_zone, recipient_locale, utcnow
from core.toolkit import local_today as toolkit_local_today
from plugins.gov_services.models import Application

PLUGIN = "gov_services"
APPLY = "gov_services.application.apply"
READ = "gov_services.application.read"
HANDLE = "gov_services.application.handle"
REVIEW = "gov_services.application.review"
APPROVE = "gov_services.application.approve"
THEMATIC_READ = "gov_services.thematic.read"
THEMATIC_EXPORT = "gov_services.thematic.export"
MANAGE = "gov_services.catalogue.manage"

STAGE_PERMISSION = {"community_check": HANDLE, "street_review": REVIEW, "approval": APPROVE}
OPEN_STATES = (
    "submitted",
    "needs_material",
    "community_check",
    "street_review",
    "approval",
    "suspended",
    "public_notice",
)
DECIDED_STATES = ("approved", "rejected", "not_accepted", "completed")
CLOSED_STATES = (*DECIDED_STATES, "withdrawn")
STATES = (*OPEN_STATES, *CLOSED_STATES)
ACTIONS = (
    "accept",
    "not_accept",
    "request_material",
    "resubmit",
    "pass",
    "reject",
    "suspend",
    "resume",
    "end_notice",
    "complete",
    "withdraw",
)


class GovError(RuleError):
    """A rule was broken: 422 in the API, a message beside the field on a page.

    A :class:`core.toolkit.RuleError` (one API handler serves every plugin's rules):
    ``GovError(message, field, errors={field: text}, **params)``, ``.text()`` in the
    reader's language, ``.errors`` every field's message when several are wrong at once
    (the form's answers), ``status`` set by the subclasses."""

    status = 422


class UnknownService(GovError):
    """A service code the catalogue does not have: the thing asked for does not exist
    (404), as for an unknown id — its format was fine."""

    status = 404


class TransitionError(GovError):
    """The action is not possible in the application's state (409)."""

    status = 409


class RoleError(GovError):
    """The user's role may not take this action (403)."""

    status = 403


def translated(message: str, **params: Any) -> str:
    """Translate now if there is a request or app context, else format the English."""
    try:
        from flask_babel import gettext

        return gettext(message, **params)
    except Exception:  # no app context (a script): the English text
        return message % params if params else message


@contextmanager
def written_for(session: Any, user_id: int) -> Iterator[None]:
    """Translate what is written inside for the account it is for — its own language, not
    that of the worker whose step caused it; outside an app (a script), as
    :func:`translated` does."""
    with ExitStack() as stack:
        with suppress(RuntimeError):
            stack.enter_context(recipient_locale(session, user_id))
        yield


def lang() -> str:
    """``en`` or ``zh``: which of a service's two names and labels to show the reader."""
    try:
        from flask_babel import get_locale

        loc = get_locale()
        return "en" if loc is not None and loc.language == "en" else "zh"
    except Exception:
        return "zh"


def clock() -> datetime:
    """Now, in UTC: the one clock the workflow reads (a test sets this module's
    ``utcnow`` to 23:30 UTC to check the office's day is used)."""
    return utcnow()



def local_date(at: datetime, kernel: Any = None) -> date:
    """The calendar day of ``at`` in ``app.timezone`` (a naive value is UTC, as stored)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(local_zone(kernel)).date()


def local_today(kernel: Any = None) -> date:
    """Today where the office is (``app.timezone``), not on the server's UTC clock: a case
    filed at 07:30 Beijing time is 23:30 UTC the day before, and its working-day deadline
    and "overdue" must count from the office's day. The toolkit's ``local_today`` read on
    this module's :func:`clock` (which a test sets), with the kernel first as the
    services pass it."""
    return toolkit_local_today(clock(), kernel=kernel)


def has_bad_chars(value: str) -> bool:
    """Control characters (PostgreSQL refuses NUL) and unpaired surrogates (which cannot be
    encoded) are refused in every free text."""
    return any((ord(c) < 32 and c not in "\n\r\t") or 0xD800 <= ord(c) <= 0xDFFF for c in value)


def clean_text(value: str | None, field: str) -> str:
    """A free text as stored (stripped), refused at ``field`` when it has a bad character."""
    value = (value or "").strip()
    if has_bad_chars(value):
        raise GovError(N_("Contains a character that is not allowed."), field)
    return value


STATE_LABELS = {
    "submitted": N_("Submitted"),
    "needs_material": N_("Needs material"),
    "not_accepted": N_("Not accepted"),
    "community_check": N_("Community check"),
    "street_review": N_("Street review"),
    "approval": N_("Approval"),
    "suspended": N_("Suspended (home visit)"),
    "public_notice": N_("Public notice"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "completed": N_("Completed"),
    "withdrawn": N_("Withdrawn"),
}
ACTION_LABELS = {
    "submit": N_("Submitted"),
    "accept": N_("Accept"),
    "not_accept": N_("Do not accept"),
    "request_material": N_("Ask for material"),
    "resubmit": N_("Resubmit"),
    "pass": N_("Pass to the next step"),
    "reject": N_("Reject"),
    "suspend": N_("Suspend"),
    "resume": N_("Resume"),
    "end_notice": N_("End the public notice"),
    "complete": N_("Complete"),
    "withdraw": N_("Withdraw"),
    "rate": N_("Rated"),
    "flag": N_("Flagged for review"),
}

#: The timeline's words: what happened, in the past tense, so a history never reads
#: "Submitted → Submitted"; the state a step led to is shown only where it says more.
STEP_LABELS = {
    "submit": N_("Application submitted"),
    "accept": N_("Accepted for handling"),
    "not_accept": N_("Not accepted"),
    "request_material": N_("Asked for more material"),
    "resubmit": N_("Material sent in"),
    "pass": N_("Passed on"),
    "reject": N_("Rejected"),
    "suspend": N_("Suspended"),
    "resume": N_("Resumed"),
    "end_notice": N_("Public notice ended"),
    "complete": N_("Completed"),
    "withdraw": N_("Withdrawn by the applicant"),
    "rate": N_("Rated"),
    "flag": N_("Flagged for review"),
}
#: Steps whose next state is not implied by the step's name.
STEP_SHOWS_STATE = ("accept", "resubmit", "pass", "resume", "end_notice")


def is_applicant(actor: Any, app: Application) -> bool:
    """Whether ``actor`` is the person the case is for (their own steps, their masked view)."""
    return bool(actor is not None and getattr(actor, "person_id", None) == app.person_id)
