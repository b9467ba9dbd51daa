"""Finding a service: search over the catalogue in characters, full pinyin and initials;
grouping by life event or department; the office to go to; and, for a resident who may not
apply, the reasons in plain words with the services of the same life events they may apply
for instead.

A resident types what they would say, not the service's official name: "老人" for 高龄津贴,
"证明" for a certificate, "gaoling" or "gljt" on a phone without a Chinese keyboard, "old
age allowance" in English. So each service is indexed under its name, its plain-words
summary, its keywords (synonyms), its life events' names and keywords and its department,
each with a weight; Chinese texts also under their pinyin syllables, so a Latin query can
match whole syllables ("gaoling"), their initials ("gljt") or a mix ("gaolj").

The index is built once per app, on the first search, from the catalogue — which is data
fixed for the app's life — and kept on the :class:`~plugins.gov_services.catalogue.
Catalogue` (``search_index``): a query costs a scan of 27 small entries, never a rebuild.

pypinyin is read through its phrase dictionary (养老 yang lao, not yang lao's heteronyms):
service names are common words, so the phrase reading is the one people type. Surnames are
not at stake here, so core's registry keys (with their surname table) are not needed —
and a plugin may not import core's registry modules (docs/toolkit.md).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.toolkit import LINE_CONTROL_CHARS, ScopeError
from plugins.gov_services.catalogue import Catalogue, Service
from plugins.gov_services.services.context import Gov
from plugins.gov_services.services.eligibility import (
    check_eligibility,
    prefill,
    service_enabled,
    service_params,
)
from plugins.gov_services.services.vocabulary import N_, translated

#: Longest query looked at (the page's input and the API's schema allow 50 characters).
MAX_QUERY = 50
#: How many alternatives a resident who may not apply is shown.
MAX_ALTERNATIVES = 3

# Field weights: a hit on the name beats one on a synonym, which beats one on a life
# event's keyword, the summary, the department.
W_NAME, W_KEYWORD, W_EVENT, W_SUMMARY, W_DEPARTMENT, W_CODE = 100, 60, 40, 25, 15, 10
# How good a kind of hit is: the whole text, characters inside it, the query containing a
# name ("我要办高龄津贴"), whole pinyin syllables, initials or a mix.
Q_EXACT, Q_CONTAINS, Q_CONTAINED, Q_PINYIN, Q_INITIALS, Q_MIXED = 1.5, 1.0, 0.8, 0.9, 0.7, 0.6

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[a-z0-9]+")
_CONTROL = re.compile(f"[{LINE_CONTROL_CHARS}]")
#: English words that say nothing about which service is meant (not "an" or "can":
#: they are pinyin syllables too, 安 and 残).
_STOP = frozenset((
    "a", "the", "of", "for", "and", "or", "to", "in", "on", "my", "me", "i", "with", "is",
    "at", "how", "do", "apply", "get", "want", "need", "service", "services",
))


# ------------------------------------------------------------------------------ text


def _pypinyin() -> Any:
    """pypinyin, imported on first use (its phrase dictionary takes a moment to load)."""
    import pypinyin

    return pypinyin


def _syllables(run: str) -> tuple[str, ...]:
    """The toneless pinyin of a run of Chinese characters in phrase context, ü as u."""
    pp = _pypinyin()
    return tuple(s.replace("ü", "u").replace("v", "u")
                 for s in pp.lazy_pinyin(run, style=pp.Style.NORMAL))


def normalise(text: str) -> str:
    """Full-width to half-width, lowercase, control characters out, ü/v kept apart only
    where pinyin is matched."""
    value = unicodedata.normalize("NFKC", text or "").lower()
    return _CONTROL.sub(" ", value)


def _stem(word: str) -> str:
    """A plain English word stem: "certificates" and "certificate" alike."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


@dataclass(frozen=True)
class Term:
    """One indexed text of a service: its characters, its English words (stemmed) and, for
    Chinese, the pinyin syllables of each run of characters."""

    text: str
    weight: int
    words: tuple[str, ...]
    segments: tuple[tuple[str, ...], ...]
    short: bool  # a name or keyword: initials and mixed pinyin may match it

    @classmethod
    def of(cls, text: str, weight: int, *, short: bool) -> Term:
        norm = normalise(text)
        words = tuple(_stem(w) for w in _LATIN_WORD.findall(norm))
        segments = tuple(_syllables(run) for run in _HAN_RUN.findall(norm))
        return cls(norm, weight, words, segments, short)


@dataclass(frozen=True)
class Hit:
    service: Service
    score: float


class SearchIndex:
    """Every service's terms, in catalogue order (the order ties are shown in)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.order = {code: i for i, code in enumerate(catalogue.services)}
        self.entries: list[tuple[Service, tuple[Term, ...]]] = []
        for service in catalogue.services.values():
            terms: list[Term] = [
                Term.of(service.name_zh, W_NAME, short=True),
                Term.of(service.name_en, W_NAME, short=True),
                Term.of(service.code.replace("_", " "), W_CODE, short=False),
            ]
            terms += [Term.of(k, W_KEYWORD, short=True)
                      for k in (*service.keywords_zh, *service.keywords_en)]
            for event in service.life_events:
                entry = catalogue.life_events.get(event, {})
                texts = (entry.get("zh", ""), entry.get("en", ""),
                         *entry.get("keywords_zh", ()), *entry.get("keywords_en", ()))
                terms += [Term.of(t, W_EVENT, short=True) for t in texts if t]
            terms += [Term.of(t, W_SUMMARY, short=False)
                      for t in (service.summary_zh, service.summary_en) if t]
            dept = catalogue.departments.get(service.department, {})
            terms += [Term.of(dept[k], W_DEPARTMENT, short=False)
                      for k in ("zh", "en") if dept.get(k)]
            self.entries.append((service, tuple(terms)))

    def search(self, query: str) -> list[Hit]:
        """The services matching every word of ``query``, best first. A word matches a
        term by its characters, by English word prefix, or by pinyin (whole syllables,
        initials, or both mixed; two letters at least)."""
        words = query_words(query)
        if not words:
            return []
        hits: list[Hit] = []
        for service, terms in self.entries:
            total = 0.0
            for word in words:
                best = max((_score(word, t) for t in terms), default=0.0)
                if best <= 0:
                    break
                total += best
            else:
                hits.append(Hit(service, total))
        hits.sort(key=lambda h: (-h.score, self.order[h.service.code]))
        return hits


def query_words(query: str) -> list[tuple[str, str]]:
    """The query's words as ``(kind, text)``: "han" (Chinese characters only), "latin"
    (letters and digits, also matched as pinyin) or "mixed" (高l: the characters turned
    into pinyin, then matched as pinyin). English stop words are dropped."""
    out: list[tuple[str, str]] = []
    for raw in normalise(query)[:MAX_QUERY].split():
        han = "".join(_HAN.findall(raw))
        latin = "".join(_LATIN_WORD.findall(raw))
        if han and not latin:
            out.append(("han", han))
        elif latin and not han:
            if latin not in _STOP:
                out.append(("latin", latin))
        elif han and latin:
            # 高l → gaol: the characters' pinyin, then the letters, in the order typed
            spelt = "".join(
                "".join(_syllables(part)) if _HAN.match(part) else part
                for part in re.findall(r"[\u3400-\u9fff\uf900-\ufaff]+|[a-z0-9]+", raw)
            )
            out.append(("mixed", spelt))
    return out


def _score(word: tuple[str, str], term: Term) -> float:
    kind, text = word
    if kind == "han":
        if text == term.text:
            return term.weight * Q_EXACT
        if text in term.text:
            return term.weight * Q_CONTAINS
        if (term.weight >= W_KEYWORD and len(term.text) >= 2 and _HAN.match(term.text)
                and term.text in text):  # a name or the service's own keyword
            return term.weight * Q_CONTAINED
        return 0.0
    best = 0.0
    if kind == "latin" and term.words:
        for w in term.words:
            if w == _stem(text):
                best = max(best, term.weight * Q_EXACT)
            elif len(text) >= 2 and w.startswith(text):
                best = max(best, term.weight * Q_CONTAINS)
    if len(text) >= 2 and term.segments:
        spelt = text.replace("v", "u")  # ü typed as v (nv 女) or u
        quality = max((_pinyin_match(seg, spelt, term.short) for seg in term.segments),
                      default=0.0)
        factor = 0.8 if kind == "mixed" else 1.0
        best = max(best, term.weight * quality * factor)
    return best


def _pinyin_match(syllables: tuple[str, ...], query: str, short: bool) -> float:
    """How well ``query`` spells consecutive ``syllables`` from some syllable on: each
    syllable in full, or (names and keywords only) by a prefix of it — "gaoling" →
    :data:`Q_PINYIN`, "gljt" → :data:`Q_INITIALS`, "gaolj" → :data:`Q_MIXED`; 0 if not.
    A long text (a summary) matches whole syllables only, and four letters at least, so a
    short query never matches a sentence by chance. Memoised per call: (syllable,
    position) pairs are at most 50 × the text's length."""
    n, m = len(syllables), len(query)
    if not short and m < 4:
        return 0.0
    memo: dict[tuple[int, int], tuple[bool, bool, bool]] = {}
    nothing = (False, False, False)

    def walk(i: int, pos: int) -> tuple[bool, bool, bool]:
        """Can query[pos:] be spelt from syllable i on: (as whole syllables, the last
        perhaps begun; as one letter each; at all)?"""
        if i == n:
            return nothing
        key = (i, pos)
        if key not in memo:
            syl = syllables[i]
            whole_ok = one_ok = any_ok = False
            for length in range(min(len(syl), m - pos), 0, -1):
                if query[pos:pos + length] != syl[:length]:
                    continue
                whole = length == len(syl)
                if not short and not whole:
                    continue
                if pos + length == m:
                    w, o, a = True, length == 1, True
                else:
                    rw, ro, ra = walk(i + 1, pos + length)
                    w, o, a = whole and rw, length == 1 and ro, ra
                whole_ok, one_ok, any_ok = whole_ok or w, one_ok or o, any_ok or a
            memo[key] = (whole_ok, one_ok, any_ok)
        return memo[key]

    found = 0
    for start in range(n):
        w, o, a = walk(start, 0)
        found = max(found, 3 if w else 2 if o else 1 if a else 0)
        if found == 3:
            break
    return {3: Q_PINYIN, 2: Q_INITIALS, 1: Q_MIXED}.get(found, 0.0)


def index_for(catalogue: Catalogue) -> SearchIndex:
    """The catalogue's index, built on first use and kept with it."""
    if catalogue.search_index is None:
        catalogue.search_index = SearchIndex(catalogue)
    return catalogue.search_index


def search_services(catalogue: Catalogue, query: str) -> list[Service]:
    """The services matching ``query``, best first; every service, in catalogue order,
    for an empty query."""
    if not normalise(query).strip():
        return list(catalogue.services.values())
    return [h.service for h in index_for(catalogue).search(query)]


# ------------------------------------------------------------------------------ groups

#: The heading key of services no life event claims (a plugin's, say).
OTHER = "other"


def by_life_event(catalogue: Catalogue, services: list[Service]) -> list[tuple[str, list[Service]]]:
    """``[(life event, services)]`` in the data file's order, a service under each of its
    events; those with none under :data:`OTHER` at the end. Empty groups left out."""
    groups: dict[str, list[Service]] = {code: [] for code in catalogue.life_events}
    groups[OTHER] = []
    for s in services:
        for event in s.life_events or (OTHER,):
            groups.setdefault(event, []).append(s)
    return [(code, items) for code, items in groups.items() if items]


def by_department(catalogue: Catalogue, services: list[Service]) -> list[tuple[str, list[Service]]]:
    """``[(department, services)]`` in the data file's order of departments."""
    groups: dict[str, list[Service]] = {code: [] for code in catalogue.departments}
    for s in services:
        groups.setdefault(s.department, []).append(s)
    return [(code, items) for code, items in groups.items() if items]


# ------------------------------------------------------------------------------ office

OFFICE_KEYS = ("name", "address", "hours", "window")


def office_for(g: Gov, service: Service, lang: str) -> dict[str, str] | None:
    """Where to go and whom to call about ``service``: ``{name, address, hours, window,
    phone}`` in ``lang``, or None when the catalogue names no office. The data file's
    office, overridden field by field by ``[plugins.gov_services.offices.<office>]`` in
    the config (the addresses and numbers of the deployment's own street)."""
    dept = g.catalogue.departments.get(service.department, {})
    code = dept.get("office")
    if not code or code not in g.catalogue.offices:
        return None
    configured = (g.settings.get("offices") or {}).get(code) or {}
    data = {**g.catalogue.offices[code], **{k: str(v) for k, v in configured.items()}}
    data.update({k: v for k, v in dept.items() if k.startswith("window_")})
    other = "zh" if lang == "en" else "en"
    out = {k: data.get(f"{k}_{lang}") or data.get(f"{k}_{other}") or "" for k in OFFICE_KEYS}
    out["phone"] = data.get("phone", "")
    out["tel"] = re.sub(r"[^0-9+]", "", out["phone"])
    return out


# ------------------------------------------------------------------------------ standing


@dataclass
class Standing:
    """Whether the signed-in resident may apply, and if not, why and what instead."""

    reasons: list[str]
    alternatives: list[Service]

    @property
    def eligible(self) -> bool:
        return not self.reasons


def _reasons(
    session: Session, service: Service, person: dict[str, Any]
) -> list[str]:
    """Why ``person`` may not apply for ``service`` on what the registry shows (the form's
    answers are not known yet): the rules, and the service being switched off locally."""
    if not service_enabled(session, service.code, person.get("community")):
        return [translated(N_("This service is not offered in your community."))]
    return check_eligibility(service, person, service_params(session, service,
                                                             person.get("community")))


def alternatives(
    session: Session, g: Gov, service: Service, person: dict[str, Any],
    limit: int = MAX_ALTERNATIVES,
) -> list[Service]:
    """Services related to ``service`` that ``person`` may apply for, judged on the same
    rules as the apply page: its ``see_also`` first, in their order; then those of its
    life events, sharing its first (main) event and more of its events first, then in
    catalogue order. Judged on the registry alone: the form's answers are not known yet."""
    events = set(service.life_events)
    main = service.life_events[0] if service.life_events else None
    chosen = {code: i for i, code in enumerate(service.see_also)}

    def rank(item: tuple[int, Service]) -> tuple[int, int, int, int]:
        i, s = item
        shared = len(events & set(s.life_events)) + (2 if main in s.life_events else 0)
        return (0 if s.code in chosen else 1, chosen.get(s.code, 0), -shared, i)

    candidates = sorted(
        (
            (i, s)
            for i, s in enumerate(g.catalogue.services.values())
            if s.code != service.code and (s.code in chosen or events & set(s.life_events))
        ),
        key=rank,
    )
    out: list[Service] = []
    for _i, s in candidates:
        if not _reasons(session, s, person):
            out.append(s)
            if len(out) == limit:
                break
    return out


def standing(
    session: Session, g: Gov, service: Service, user: Any, *,
    person: dict[str, Any] | None = None,
) -> Standing | None:
    """The resident's standing for ``service``, or None for someone it cannot be judged
    for (signed out, not verified, no person). The resident's own record is read through
    the scoped reader like every other read (a self-read is no access-log entry; an agent
    acting for the resident is one); pass ``person`` when the caller has already read it."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_verified", False):
        return None
    if person is None:
        if not getattr(user, "person_id", None):
            return None
        try:
            person = prefill(session, g, user.person_id, actor=user, purpose="eligibility check")
        except ScopeError:  # the record is not readable (moved away, removed): no verdict
            return None
    reasons = _reasons(session, service, person)
    return Standing(reasons, alternatives(session, g, service, person) if reasons else [])
