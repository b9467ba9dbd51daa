"""The forum's lightweight markup, rendered to HTML that can never carry a script.

Two locks: the text is HTML-escaped *before* the markup is turned into tags (so a ``<``
typed by a resident is always text), and the result still goes through nh3 (the ammonia
sanitiser) with a tiny allow-list, so even a bug in the converter cannot let a script,
an event handler or a ``javascript:`` link through.

Markup: ``**bold**``, ``*italic*``, ``[text](https://...)``, ``@username`` mentions, blank
line between paragraphs.
"""

from __future__ import annotations

import html
import re

import nh3

TAGS = {"p", "br", "strong", "em", "a"}
ATTRIBUTES = {"a": {"href", "class"}}
MENTION_RE = re.compile(r"(?<![A-Za-z0-9_.@/-])@([A-Za-z0-9_.-]{2,64})")
_LINK_RE = re.compile(r"\[([^\]\n]{1,200})\]\((https?://[^\s)\"'<>]{1,500})\)")
_BOLD_RE = re.compile(r"\*\*([^*\n]{1,500})\*\*")
_ITALIC_RE = re.compile(r"\*([^*\n]{1,500})\*")


def mentions(text: str) -> list[str]:
    """Usernames mentioned with ``@name``, in order, without repeats."""
    seen: list[str] = []
    for name in MENTION_RE.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def render(text: str) -> str:
    """Safe HTML for ``text`` (see the module docstring)."""
    escaped = html.escape(text or "", quote=True)
    escaped = _LINK_RE.sub(r'<a href="\2">\1</a>', escaped)
    escaped = _BOLD_RE.sub(r"<strong>\1</strong>", escaped)
    escaped = _ITALIC_RE.sub(r"<em>\1</em>", escaped)
    escaped = MENTION_RE.sub(r'<a class="mention" href="#">@\1</a>', escaped)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", escaped) if p.strip()]
    out = "".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return clean(out)


def clean(markup: str) -> str:
    """nh3 with the allow-list: http(s) links only, ``rel="nofollow noopener"`` added."""
    return nh3.clean(
        markup,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https"},
        link_rel="nofollow noopener noreferrer",
    )
