"""Pinyin search keys for names, and the prefix-range helper every search uses.

pypinyin has no surname mode (its issue #297), and its default readings are wrong for
common multi-reading surnames: 曾 ceng (surname zeng), 单 dan (shan), 解 jie (xie), 区 qu
(ou), 朴 pu (piao). So (research/domain.md §6):

1. the surname (one character, or a compound surname) is read from our own table;
2. the rest of the name is read by pypinyin with phrase context (长江 → chang jiang);
3. every other combination of readings (capped at 16) becomes an extra key, so someone who
   types "ceng" or "shan" still finds the person — ranked after the primary reading.

Keys are lowercase ASCII without tones, ü written as u (ü, v and u are treated the same
in queries too). Speed matters for bulk imports, so per-character readings are cached and
pypinyin's phrase lookup runs only for names with a multi-reading character.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin, pinyin

MAX_VARIANTS = 16

#: Single-character surnames whose surname reading differs from pypinyin's default.
SURNAME_READINGS: dict[str, str] = {
    # research/domain.md §6 [V]
    "曾": "zeng", "单": "shan", "解": "xie", "区": "ou", "朴": "piao", "仇": "qiu",
    "查": "zha", "翟": "zhai", "覃": "qin", "盖": "ge", "缪": "miao", "乐": "yue",
    # further surname readings [K]
    "种": "chong", "重": "chong", "员": "yun", "繁": "po", "祭": "zhai", "秘": "bi",
    "折": "she", "牟": "mou", "柏": "bai", "沈": "shen", "冼": "xian",
}
COMPOUND_SURNAMES: dict[str, tuple[str, str]] = {
    "欧阳": ("ou", "yang"), "司马": ("si", "ma"), "诸葛": ("zhu", "ge"),
    "上官": ("shang", "guan"), "尉迟": ("yu", "chi"), "万俟": ("mo", "qi"),
    "长孙": ("zhang", "sun"), "令狐": ("ling", "hu"), "皇甫": ("huang", "fu"),
    "司徒": ("si", "tu"), "夏侯": ("xia", "hou"), "宇文": ("yu", "wen"),
    "慕容": ("mu", "rong"), "东方": ("dong", "fang"), "公孙": ("gong", "sun"),
    "澹台": ("tan", "tai"), "单于": ("chan", "yu"),
}

#: Separators dropped from names and queries: spaces, apostrophes, the middle dots used
#: in minority and foreign names, hyphens.
_DROP = re.compile(r"[\s'’‘`·•‧・\-_.,，]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ffff]")
_LATIN_WORD = re.compile(r"[a-z0-9]+")


def _is_han(ch: str) -> bool:
    return bool(_HAN.match(ch))


def _clean_reading(reading: str) -> str:
    return reading.replace("ü", "u").replace("v", "u")


@lru_cache(maxsize=65536)
def char_readings(ch: str) -> tuple[str, ...]:
    """Every toneless reading of one character, pypinyin's default first."""
    out: list[str] = []
    for r in pinyin(ch, style=Style.NORMAL, heteronym=True)[0]:
        r = _clean_reading(r)
        if r and r not in out:
            out.append(r)
    return tuple(out) or (ch,)


@lru_cache(maxsize=65536)
def _phrase(text: str) -> tuple[tuple[str, ...], ...]:
    """Readings per character with phrase context: primary first, then the others
    pypinyin still allows in this context."""
    primary = [_clean_reading(r) for r in lazy_pinyin(text, style=Style.NORMAL)]
    allowed = pinyin(text, style=Style.NORMAL, heteronym=True)
    out = []
    for first, options in zip(primary, allowed, strict=False):
        rest = [_clean_reading(o) for o in options]
        out.append(tuple(dict.fromkeys([first, *rest])))
    return tuple(out)


def _tokens(name: str) -> list[str]:
    """Han characters one by one; runs of Latin letters/digits as one token."""
    text = unicodedata.normalize("NFKC", name).lower()
    text = _DROP.sub(" ", text)
    tokens: list[str] = []
    for part in text.split():
        buf = ""
        for ch in part:
            if _is_han(ch):
                if buf:
                    tokens.append(buf)
                    buf = ""
                tokens.append(ch)
            elif ch.isalnum():
                buf += ch
        if buf:
            tokens.append(buf)
    return tokens


def _readings(tokens: list[str]) -> list[tuple[str, ...]]:
    """Per token, its readings (primary first), surname rules applied at the start."""
    out: list[tuple[str, ...]] = [() for _ in tokens]
    start = 0
    if len(tokens) >= 3 and "".join(tokens[:2]) in COMPOUND_SURNAMES:
        a, b = COMPOUND_SURNAMES["".join(tokens[:2])]
        out[0], out[1] = (a,), (b,)
        start = 2
    elif tokens and tokens[0] in SURNAME_READINGS:
        surname = SURNAME_READINGS[tokens[0]]
        out[0] = tuple(dict.fromkeys([surname, *char_readings(tokens[0])]))
        start = 1
    elif tokens and _is_han(tokens[0]):
        # Any other surname: its default reading is the surname reading (王 wang, not yu);
        # indexing the others would only add noise.
        out[0] = char_readings(tokens[0])[:1]
        start = 1
    i = start
    while i < len(tokens):
        tok = tokens[i]
        if not _is_han(tok):
            out[i] = (tok,)
            i += 1
            continue
        j = i
        while j < len(tokens) and _is_han(tokens[j]):
            j += 1
        run = tokens[i:j]
        per_char = [char_readings(c) for c in run]
        if len(run) > 1 and any(len(r) > 1 for r in per_char):
            per_char = list(_phrase("".join(run)))  # phrase context decides
        out[i:j] = per_char
        i = j
    return out


@lru_cache(maxsize=262144)
def name_keys(name: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """``(full pinyin, initials, extra keys)`` for a name; extra keys are ``(key, kind)``
    with kind "f" (full) or "i" (initials), excluding the primary two.

    >>> name_keys("曾国藩")[:2]
    ('zengguofan', 'zgf')
    """
    tokens = _tokens(name)
    if not tokens:
        return "", "", ()
    readings = _readings(tokens)
    full = "".join(r[0] for r in readings)
    initials = "".join(r[0][:1] for r in readings)
    extra: dict[tuple[str, str], None] = {}
    if any(len(r) > 1 for r in readings):
        for combo in itertools.islice(itertools.product(*readings), MAX_VARIANTS):
            f = "".join(combo)
            i = "".join(c[:1] for c in combo)
            if f != full:
                extra[(f, "f")] = None
            if i != initials:
                extra[(i, "i")] = None
    return full[:120], initials[:50], tuple((k[:120], kind) for k, kind in extra)


def normalise_query(text: str) -> str:
    """Lowercase, full-width → ASCII, separators out, ü/v → u."""
    value = unicodedata.normalize("NFKC", text or "").lower()
    value = _DROP.sub("", value)
    return value.replace("ü", "u").replace("v", "u")


def split_query(text: str) -> tuple[str, str]:
    """``(leading Han characters, the rest)``: "张s" → ("张", "s"); "zs" → ("", "zs")."""
    value = normalise_query(text)
    i = 0
    while i < len(value) and _is_han(value[i]):
        i += 1
    return value[:i], value[i:]


def prefix_end(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``, so that
    ``col >= prefix AND col < prefix_end(prefix)`` is a prefix match an index can serve
    (``LIKE prefix || '%'`` is not, on SQLite; research/performance-floors.md)."""
    if not prefix:
        raise ValueError("empty prefix")
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return prefix + "\U0010ffff"
    return prefix[:-1] + chr(last + 1)
