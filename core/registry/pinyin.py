"""Pinyin search keys for names, and the prefix-range helper every search uses.

pypinyin has no surname mode (its issue #297), and its default readings are wrong for
common multi-reading surnames: 曾 ceng (surname zeng), 单 dan (shan), 解 jie (xie), 区 qu
(ou), 朴 pu (piao). So (docs/requirements.md, domain §6):

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
from collections.abc import Sequence
from functools import lru_cache
from types import ModuleType


def _pypinyin() -> ModuleType:
    """pypinyin, imported on first use: its phrase dictionary costs ~0.2–0.3 s to load,
    which every start-up (and every CLI command) paid before a single name was read."""
    import pypinyin

    return pypinyin

MAX_VARIANTS = 16

#: Single-character surnames whose surname reading differs from pypinyin's default.
SURNAME_READINGS: dict[str, str] = {
    # docs/requirements.md, domain §6 [V]
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
#: Names made of unified ideographs only (the BMP blocks: no compatibility ideographs,
#: which NFKC would change).
_ALL_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")


def _is_han(ch: str) -> bool:
    return bool(_HAN.match(ch))


def _clean_reading(reading: str) -> str:
    return reading.replace("ü", "u").replace("v", "u")


@lru_cache(maxsize=65536)
def char_readings(ch: str) -> tuple[str, ...]:
    """Every toneless reading of one character, pypinyin's default first."""
    out: list[str] = []
    pp = _pypinyin()
    for r in pp.pinyin(ch, style=pp.Style.NORMAL, heteronym=True)[0]:
        r = _clean_reading(r)
        if r and r not in out:
            out.append(r)
    return tuple(out) or (ch,)


@lru_cache(maxsize=65536)
def _phrase(text: str) -> tuple[tuple[str, ...], ...]:
    """Readings per character with phrase context: primary first, then the others
    pypinyin still allows in this context."""
    pp = _pypinyin()
    primary = [_clean_reading(r) for r in pp.lazy_pinyin(text, style=pp.Style.NORMAL)]
    allowed = pp.pinyin(text, style=pp.Style.NORMAL, heteronym=True)
    out = []
    for first, options in zip(primary, allowed, strict=False):
        rest = [_clean_reading(o) for o in options]
        out.append(tuple(dict.fromkeys([first, *rest])))
    return tuple(out)


def _tokens(name: str) -> list[str]:
    """Han characters one by one; runs of Latin letters/digits as one token."""
    if _ALL_HAN.fullmatch(name):
        # The common case: unified ideographs only. NFKC, lower() and the separators
        # leave them alone, so each character is a token.
        return list(name)
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


@lru_cache(maxsize=4096)
def _surname_readings(token: str) -> tuple[str, ...]:
    """The readings of a one-character surname: the surname reading first (and only, for
    surnames whose default reading is their surname reading)."""
    if token in SURNAME_READINGS:
        return tuple(dict.fromkeys([SURNAME_READINGS[token], *char_readings(token)]))
    # Any other surname: its default reading is the surname reading (王 wang, not yu);
    # indexing the others would only add noise.
    return char_readings(token)[:1]


@lru_cache(maxsize=65536)
def _rest_readings(tokens: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """Readings of the tokens after the surname (the given name): Latin tokens as they
    are, runs of Han characters with phrase context. Given names repeat far more than
    whole names, so this is memoised on its own."""
    out: list[tuple[str, ...]] = [() for _ in tokens]
    i = 0
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
    return tuple(out)


def _readings(tokens: list[str]) -> list[tuple[str, ...]]:
    """Per token, its readings (primary first), surname rules applied at the start."""
    head, rest = _split_surname(tokens)
    return [*head, *_rest_readings(tuple(rest))]


def _split_surname(tokens: list[str]) -> tuple[tuple[tuple[str, ...], ...], list[str]]:
    """(readings of the surname tokens, the other tokens)."""
    if len(tokens) >= 3 and tokens[0] + tokens[1] in COMPOUND_SURNAMES:
        a, b = COMPOUND_SURNAMES[tokens[0] + tokens[1]]
        return ((a,), (b,)), tokens[2:]
    if tokens and _is_han(tokens[0]):
        return (_surname_readings(tokens[0]),), tokens[1:]
    return (), tokens


def _combos(readings: Sequence[tuple[str, ...]]) -> tuple[tuple[str, str], ...]:
    """(full, initials) of the first :data:`MAX_VARIANTS` combinations of readings."""
    return tuple(("".join(c), "".join(x[:1] for x in c))
                 for c in itertools.islice(itertools.product(*readings), MAX_VARIANTS))


@lru_cache(maxsize=65536)
def _rest_keys(tokens: tuple[str, ...]) -> tuple[str, str, tuple[tuple[str, str], ...],
                                                 tuple[tuple[str, str], ...]]:
    """Of the tokens after the surname: (primary full pinyin, primary initials, the first
    combinations of readings when some token has several, else (), and those
    combinations as the extra keys' suffixes, deduplicated, ``(suffix, kind)``)."""
    readings = _rest_readings(tokens)
    full = "".join(r[0] for r in readings)
    initials = "".join(r[0][:1] for r in readings)
    if not any(len(r) > 1 for r in readings):
        return full, initials, (), ()
    combos = _combos(readings)
    suffixes: dict[tuple[str, str], None] = {}
    for f, i in combos:
        if f != full:
            suffixes[(f, "f")] = None
        if i != initials:
            suffixes[(i, "i")] = None
    return full, initials, combos, tuple(suffixes)


def compute_name_keys(name: str) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """``(full pinyin, initials, extra keys)`` for a name; extra keys are ``(key, kind)``
    with kind "f" (full) or "i" (initials), excluding the primary two.

    >>> compute_name_keys("曾国藩")[:2]
    ('zengguofan', 'zgf')

    The combinations are those of every token's readings, surname first, in
    ``itertools.product`` order, capped at :data:`MAX_VARIANTS`. The given name's part is
    memoised apart from the surname (a million residents have a few hundred thousand
    distinct names but only thousands of distinct given names).
    """
    tokens = _tokens(name)
    if not tokens:
        return "", "", ()
    head, rest = _split_surname(tokens)
    r_full, r_initials, r_combos, r_suffixes = _rest_keys(tuple(rest))
    h_full = "".join(r[0] for r in head)
    h_initials = "".join(r[0][:1] for r in head)
    full = h_full + r_full
    initials = h_initials + r_initials
    multi_head = any(len(r) > 1 for r in head)
    if not multi_head:
        # One surname reading (most names): the extra keys are the given name's, behind
        # the fixed surname prefix — equal exactly when the suffixes are equal.
        return full[:120], initials[:50], tuple(
            ((h_full + k)[:120], "f") if kind == "f" else ((h_initials + k)[:120], "i")
            for k, kind in r_suffixes)
    # product(head..., rest...) in order = for each head combination, the rest's
    # combinations; the first MAX_VARIANTS of the rest's are all that can be reached.
    rest_combos = r_combos or ((r_full, r_initials),)
    extra: dict[tuple[str, str], None] = {}
    n = 0
    for hf, hi in (_combos(head) if multi_head else ((h_full, h_initials),)):
        for rf, ri in rest_combos:
            f, i = hf + rf, hi + ri
            if f != full:
                extra[(f, "f")] = None
            if i != initials:
                extra[(i, "i")] = None
            n += 1
            if n == MAX_VARIANTS:
                break
        if n == MAX_VARIANTS:
            break
    return full[:120], initials[:50], tuple((k[:120], kind) for k, kind in extra)


#: :func:`compute_name_keys`, memoised (services and search call it for one name at a
#: time). A bulk load keeps its own dictionary instead of churning this cache.
name_keys = lru_cache(maxsize=262144)(compute_name_keys)


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
    (``LIKE prefix || '%'`` is not, on SQLite; docs/requirements.md, floors: prefix search)."""
    if not prefix:
        raise ValueError("empty prefix")
    last = ord(prefix[-1])
    if last >= 0x10FFFF:
        return prefix + "\U0010ffff"
    return prefix[:-1] + chr(last + 1)
