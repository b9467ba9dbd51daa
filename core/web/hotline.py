"""The service hotline a page tells people to call, per community, from config.

``[app] hotline`` is the district's number; ``[app.hotlines]`` gives a community (its
12-digit code) or a whole street (its 9-digit code) its own. A page that says "call the
hotline" shows the number of the reader's own community as a ``tel:`` link, so a resident
on a phone calls with one tap instead of being told of a number they are never given.

Plugins reach it as :func:`core.toolkit.hotline_for`; templates as the Jinja global
``hotline()`` (the current user's community, else the district's number).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import g, has_request_context
from flask_login import current_user
from markupsafe import Markup, escape

from core.current import current_kernel


@dataclass(frozen=True)
class Hotline:
    """A number to call. Falsy, and rendered as nothing, when none is configured, so a
    template can write ``{% if hotline() %}`` or ``{{ hotline() }}`` (the ``tel:`` link)."""

    number: str = ""
    #: The configuration key it came from: a community or street code, or "" (district).
    source: str = ""

    @property
    def tel(self) -> str:
        """The ``tel:`` URI (RFC 3966): the digits, and a leading ``+`` if there is one."""
        return "tel:" + re.sub(r"[^0-9+]", "", self.number)

    def __bool__(self) -> bool:
        return bool(self.number)

    def __str__(self) -> str:
        return self.number

    def __html__(self) -> Markup:
        if not self.number:
            return Markup("")
        return Markup('<a class="tel-link" href="{}">{}</a>').format(self.tel, self.number)


def hotline_for(community_code: str | None = None, *, config: Any = None) -> Hotline:
    """The hotline for a community: its own number (``[app.hotlines]``, the community's
    code), else its street's (the 9-digit prefix of the code), else the district's
    (``[app] hotline``). An empty :class:`Hotline` when none is configured."""
    app = (config or current_kernel().config).app
    numbers: dict[str, str] = app.get("hotlines") or {}
    code = (community_code or "").strip()
    if code:
        # the most specific key the code starts with: the community, then its street
        for key in sorted(numbers, key=len, reverse=True):
            if code.startswith(key) and numbers[key]:
                return Hotline(numbers[key], key)
    return Hotline(app.get("hotline") or "", "")


def own_community_code() -> str | None:
    """The community code of the signed-in resident's registry record (once a request)."""
    if not has_request_context() or not current_user.is_authenticated:
        return None
    if "hotline_community" not in g:
        code = None
        person_id = getattr(current_user, "person_id", None)
        if person_id:
            from sqlalchemy import select

            from core.db import current_session
            from core.registry.models import Community, Person

            code = current_session().scalar(
                select(Community.code).join(Person, Person.community_id == Community.id)
                .where(Person.id == person_id))
        g.hotline_community = code
    return g.hotline_community


def template_hotline(community_code: str | None = None) -> Hotline:
    """``{{ hotline() }}``: the hotline of ``community_code``, else of the reader's own
    community, else the district's."""
    return hotline_for(community_code or own_community_code())


def tel_link(number: object, masked_text: str = "—") -> Markup:
    """``{{ tel_link(phone) }}``: a phone number as a ``tel:`` link, one tap to call. A
    masked number (``138****5678``) or none is shown as text: there is nothing to dial."""
    text = "" if number is None else str(number).strip()
    if not text:
        return escape(masked_text)
    digits = re.sub(r"[^0-9+]", "", text)
    if "*" in text or len(digits) < 3:
        return escape(text)
    return Markup('<a class="tel-link" href="tel:{}">{}</a>').format(digits, text)


def hotline_line(community_code: str | None = None) -> Markup:
    """``{{ hotline_line() }}``: "Community service hotline: <tel: link>" as a paragraph,
    in the page's language, for any template that tells people to call (nothing when no
    number is configured, so the page never promises a number it does not give)."""
    from flask_babel import gettext as _

    found = template_hotline(community_code)
    if not found:
        return Markup("")
    return Markup('<p class="hotline-box"><span>{}</span> {}</p>').format(
        _("Community service hotline:"), found)
