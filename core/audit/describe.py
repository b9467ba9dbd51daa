"""The access log in plain words, for the resident's "who looked at my data" page.

One sentence per row of ``audit_access`` (a row is identical displays of one day, with a
count), grouped by day in the configured time zone::

    社区工作者 王芳 通过 公共服务 查看了您的 姓名、电话号码（已隐去部分）3 次
    Community worker Wang Fang saw your name and phone number (partly hidden) 3 times
    through Public services

Names of roles, plugins and fields come from the caller (the page knows the kernel and
its labels), so this module needs no more than Babel.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from babel.dates import format_skeleton
from flask_babel import format_time, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

#: Fields as a sentence names them ("saw your name and phone number").
FIELD_WORDS: dict[str, Any] = {
    "name": _l("name"),
    "id_number": _l("ID number"),
    "phone": _l("phone number"),
    "address": _l("address"),
    "birth_date": _l("date of birth"),
    "face": _l("face image"),
    "face_template": _l("face image"),
    "footage": _l("video footage"),
    "location": _l("location"),
    "photo": _l("photo"),
    "person_id": _l("record in the register"),
}


@dataclass
class Line:
    """One row of the log as the page shows it."""

    text: str
    purpose: str
    first: datetime
    last: datetime
    count: int
    masked: bool
    time: str


@dataclass
class Day:
    day: date
    label: str
    lines: list[Line] = field(default_factory=list)


#: A purpose written by the system: "<words> <reference>[ (state)][: <words>]", e.g.
#: "ticket 12", "application GS2026000002 (submitted): 核实收入", "incident #4: report photo".
_PURPOSE = re.compile(
    r"^(?P<head>[A-Za-z][A-Za-z ]*?) (?P<ref>#?[A-Za-z0-9_-]*\d[A-Za-z0-9_-]*)"
    r"(?: \((?P<state>[a-z_]+)\))?(?:: (?P<tail>.+))?$")
#: "<words>: <what>" without a reference, e.g. "counter filing: longevity_allowance".
_LABELLED = re.compile(r"^(?P<head>[A-Za-z][A-Za-z ]*?): (?P<tail>.+)$")
#: "<words> <code>", e.g. "thematic database elderly_allowance".
_NAMED = re.compile(r"^(?P<head>[A-Za-z][A-Za-z ]*?) (?P<tail>[a-z][a-z0-9_]*_[a-z0-9_]+)$")
_CODE = re.compile(r"#?[A-Za-z0-9_.-]+")


def purpose_words(purpose: str | None) -> Markup:
    """The purpose in the reader's language. A purpose a viewer typed is shown as typed; one
    the system wrote is an English phrase around a reference (the log stores text, not
    message ids), so its words are translated and the reference kept: a number as it is,
    a code made of words (``elderly_60``, ``longevity_allowance``) in ``<code>``, since
    it is the same in every language and not a word of the sentence."""
    if not purpose:
        return Markup("")
    whole = _(purpose)
    if whole != purpose:
        return escape(whole)
    m = _PURPOSE.match(purpose)
    if m is None:
        labelled = _LABELLED.match(purpose) or _NAMED.match(purpose)
        if labelled is None or _(labelled["head"]) == labelled["head"]:
            return escape(purpose)
        if labelled.re is _NAMED:
            return escape(_(labelled["head"])) + Markup(" ") + _words(labelled["tail"])
        return escape(_(labelled["head"])) + Markup(": ") + _words(labelled["tail"])
    out = escape(_(m["head"])) + Markup(" ") + _words(m["ref"])
    if m["state"]:
        out += Markup(" (%s)") % _(m["state"])
    if m["tail"]:
        out += Markup(": ") + _words(m["tail"])
    return out


def _words(text: str) -> Markup:
    """Translated words, a code in ``<code>``, or typed text as typed (escaped)."""
    translated = _(text)
    if translated != text:
        return escape(translated)
    if _CODE.fullmatch(text) and re.search(r"[A-Za-z]{3}", text):
        return Markup("<code>%s</code>") % text
    return escape(text)


def join_words(words: Sequence[str]) -> str:
    """"name", "name and phone number", "name, phone number and address" — or with 、 in
    Chinese (the separators are translated)."""
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return _(", ").join(words[:-1]) + _(" and ") + words[-1]


def field_words(fields: Iterable[str]) -> str:
    order = list(FIELD_WORDS)
    ordered = sorted(set(fields), key=lambda f: (order.index(f) if f in order else 99, f))
    return join_words([str(FIELD_WORDS.get(f, f)) for f in ordered])


def viewer_words(entry: Any, names: dict[int, str], role_label: Callable[[str], str]) -> str:
    """"Community worker Wang Fang", an exchange client's name, or "The system"."""
    name = names.get(entry.actor_id) if entry.actor_id is not None else None
    name = name or (entry.actor_name if entry.actor_name != "system" else "")
    if not name:
        return _("The system")
    role = getattr(entry, "actor_role", "") or ""
    if entry.actor_id is None and entry.via == "exchange":
        return _("%(name)s (another department's system)", name=name)
    return _("%(role)s %(name)s", role=role_label(role), name=name) if role else name


def sentence(entry: Any, names: dict[int, str], *, role_label: Callable[[str], str],
             via_label: Callable[[str], str]) -> str:
    """The row as one sentence: who, through what, which fields, masked or in full, how
    many times; "while helping you" when it was an assisted session."""
    who = viewer_words(entry, names, role_label)
    if entry.on_behalf_of_id is not None:
        who = _("%(who)s (while helping you)", who=who)
    what = field_words(entry.fields or [])
    via = via_label(entry.via)
    count = int(getattr(entry, "count", 1) or 1)
    masked = bool(getattr(entry, "masked", False))
    if count == 1:
        if masked:
            return _("%(who)s saw your %(fields)s (partly hidden) once through %(via)s",
                     who=who, fields=what, via=via)
        return _("%(who)s saw your %(fields)s in full once through %(via)s",
                 who=who, fields=what, via=via)
    if masked:
        return _("%(who)s saw your %(fields)s (partly hidden) %(num)s times through %(via)s",
                 who=who, fields=what, via=via, num=count)
    return _("%(who)s saw your %(fields)s in full %(num)s times through %(via)s",
             who=who, fields=what, via=via, num=count)


def by_day(entries: Iterable[Any], names: dict[int, str], *, zone: Any,
           role_label: Callable[[str], str], via_label: Callable[[str], str]) -> list[Day]:
    """The rows grouped by the day of their latest display, in ``zone``, in the order
    given (newest first)."""
    days: list[Day] = []
    for entry in entries:
        last = entry.last_at or entry.at
        local = last.astimezone(zone)
        if not days or days[-1].day != local.date():
            label = format_skeleton("MMMd", local.date(), locale=str(get_locale() or "zh"))
            days.append(Day(local.date(), label))
        days[-1].lines.append(Line(
            text=sentence(entry, names, role_label=role_label, via_label=via_label),
            purpose=purpose_words(entry.purpose),
            first=entry.at, last=last, count=int(entry.count or 1),
            masked=bool(entry.masked), time=format_time(last, "short")))
    return days
