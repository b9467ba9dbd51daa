"""The rules of residents' self-governance: plain functions over a session, no Flask.

They flush but never commit; the caller (a request, a command, an event handler, the demo
seeder) owns the transaction, and events are published in it (the outbox). Every rule
violation raises :class:`GovernanceError` naming the field, which a page shows beside the
field and the API returns as a 422.

Votes follow docs/requirements.md, domain §5 (Organic Law of Urban Residents' Committees
art. 9, Civil Code art. 278); see :func:`decide` for the exact arithmetic and
:func:`eligibility` for who may vote in each electorate mode.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import delete, event, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import core.toolkit as toolkit
from core.toolkit import RegistryReader, ScopeError, notify, utcnow
from plugins.self_governance import markup, sealing
from plugins.self_governance.models import (
    Ballot,
    Board,
    EvaluationMember,
    EvaluationRoll,
    EvaluationRound,
    Follow,
    GroupRep,
    LineItem,
    Mention,
    ModerationLog,
    Mute,
    Notice,
    NoticeRead,
    Post,
    Proposal,
    ProposalUpdate,
    Question,
    Rating,
    Report,
    SealedBallot,
    SealedRating,
    Statement,
    Support,
    Thread,
    Vote,
    VoteOption,
    VoterRoll,
    random_key,
)

PLUGIN = "self_governance"
log = logging.getLogger(__name__)
#: The largest id a table can hold (PostgreSQL ``integer``): larger ones name nothing.
MAX_ID = 2**31 - 1


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


class GovernanceError(Exception):
    """A rule was broken; ``field`` names the input at fault."""

    def __init__(self, message: str, field: str = "_schema", **params: Any):
        super().__init__(message)
        self.message = message
        self.field = field
        self.params = params

    def __str__(self) -> str:
        return self.message % self.params if self.params else self.message


class AlreadyVoted(GovernanceError):
    """The voter key is on the roll already (409 in the API)."""


def aware(value: datetime | None) -> datetime | None:
    """Times from forms may be naive: read them as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def reader(session: Session, kernel: Any, purpose: str) -> RegistryReader:
    """The registry as this plugin may read it for its own rules (eligibility, the size
    of an electorate): a system read (no staff place limit, nothing shown to anyone),
    within the declared data scopes, with a purpose for the record."""
    return toolkit.registry_reader(
        session, PLUGIN, actor=None, purpose=purpose, enforce_place=False, kernel=kernel
    )


def person_community(session: Session, kernel: Any, person_id: int | None) -> str | None:
    """The community code of a registry person (None when unknown or no longer active)."""
    if person_id is None:
        return None
    try:
        person = reader(session, kernel, "community of a resident").person(person_id)
    except ScopeError:
        return None
    return person["community"] if person["status"] == "active" else None


def acts_for(user: Any, community: str | None) -> bool:
    """Whether a committee member's place assignments cover ``community``. Deny by
    default, like core's staff scopes: an account with no assignment acts for no
    community, and ``community=None`` (a notice for every community) needs the
    district-wide ``("all", "")`` assignment."""
    if community is None:
        return toolkit.scope_allows(user)
    return toolkit.acts_for(user, community)


# ============================================================================ notices


def publish_notice(
    session: Session,
    *,
    title: str,
    body: str,
    community: str | None,
    author_id: int | None = None,
    building_id: int | None = None,
    pinned: bool = False,
    expires_at: datetime | None = None,
    category: str = "affairs",
    attachment_url: str | None = None,
    attachment_name: str | None = None,
    source: str = "committee",
    source_key: str | None = None,
) -> Notice:
    title = (title or "").strip()
    if not title:
        raise GovernanceError(N_("Enter a title."), "title")
    expires_at = aware(expires_at)
    if expires_at is not None and expires_at <= utcnow():
        raise GovernanceError(N_("The expiry must be in the future."), "expires_at")
    if attachment_url and (
        not attachment_url.startswith(("https://", "http://", "/"))
        or attachment_url.startswith("//")
    ):
        raise GovernanceError(N_("An attachment must be a web address."), "attachment_url")
    notice = Notice(
        title=title[:200],
        body=body or "",
        community=community or None,
        author_id=author_id,
        building_id=building_id,
        pinned=pinned,
        expires_at=expires_at,
        category=category,
        attachment_url=attachment_url or None,
        attachment_name=attachment_name or None,
        source=source,
        source_key=source_key,
    )
    session.add(notice)
    session.flush()
    return notice


def visible_notices(
    session: Session,
    community: str | None,
    *,
    limit: int = 50,
    include_expired: bool = False,
    buildings: Callable[[int], bool] | None = None,
) -> list[Notice]:
    """Notices for a community (and the all-community ones): pinned first, newest first,
    expired ones left out unless asked for. A notice for one building is shown only when
    ``buildings(building_id)`` says the viewer lives there (``None``: no building notice;
    pass ``lambda _: True`` for the committee's view of everything)."""
    query = select(Notice)
    if community is not None:
        query = query.where(or_(Notice.community.is_(None), Notice.community == community))
    if not include_expired:
        query = query.where(or_(Notice.expires_at.is_(None), Notice.expires_at > utcnow()))
    query = query.order_by(Notice.pinned.desc(), Notice.published_at.desc(), Notice.id.desc())
    rows = list(session.scalars(query.limit(limit * 2)))
    shown = [
        n
        for n in rows
        if n.building_id is None or (buildings is not None and buildings(n.building_id))
    ]
    return shown[:limit]


def lives_in(session: Session, kernel: Any, person_id: int | None) -> Callable[[int], bool]:
    """``building_id → bool``: whether the person lives in that building (one registry
    read per building asked about, remembered)."""
    seen: dict[int, bool] = {}

    def check(building_id: int) -> bool:
        if person_id is None:
            return False
        if building_id not in seen:
            people = reader(session, kernel, "notices for a building").residents(
                building_id=building_id
            )
            seen[building_id] = any(p["id"] == person_id for p in people)
        return seen[building_id]

    return check


def community_buildings(session: Session, kernel: Any, community: str) -> dict[int, str]:
    """Buildings of a community, ``id → "estate name"`` (to address a notice)."""
    rows = reader(session, kernel, "address a notice").buildings(community)
    return {b["id"]: f"{b['estate']}{b['name']}" for b in rows}


def mark_read(session: Session, notice: Notice, user_id: int | None) -> None:
    """Count a reader once (a second visit changes nothing)."""
    if user_id is None:
        return
    exists = session.scalar(
        select(NoticeRead.id).where(
            NoticeRead.notice_id == notice.id, NoticeRead.user_id == user_id
        )
    )
    if exists is None:
        try:
            with session.begin_nested():
                session.add(NoticeRead(notice_id=notice.id, user_id=user_id))
        except IntegrityError:
            pass  # two tabs at once: already counted


def read_counts(session: Session, ids: Iterable[int]) -> dict[int, int]:
    ids = list(ids)
    if not ids:
        return {}
    rows = session.execute(
        select(NoticeRead.notice_id, func.count())
        .where(NoticeRead.notice_id.in_(ids))
        .group_by(NoticeRead.notice_id)
    )
    return {nid: n for nid, n in rows}


def notice_from_event(session: Session, *, source: str, key: str, payload: dict) -> Notice:
    """A public notice for another plugin's public event, posted once per event key."""
    source_key = f"{source}:{key}"
    existing = session.scalar(select(Notice).where(Notice.source_key == source_key))
    if existing is not None:
        return existing  # a redelivered event: the notice is there already
    title = payload.get("title_zh") or payload.get("title") or source
    body = payload.get("body") or ""
    if payload.get("title") and payload.get("title_zh") and payload["title"] != title:
        body = f"{body}\n\n{payload['title']}".strip()
    return publish_notice(
        session,
        title=title,
        body=body,
        community=None if payload.get("community_code") is None else payload["community_code"],
        source=source,
        source_key=source_key,
        category="public",
        pinned=payload.get("severity") in ("high", "critical"),
    )


def on_public_alert(event: Any, session: Session) -> None:
    """``surveillance.public_alert.published`` → a public safety notice (idempotent)."""
    payload = dict(event.payload)
    payload["community_code"] = _community_code(session, payload.get("community_id"))
    notice_from_event(
        session, source="surveillance", key=f"alert:{payload['alert_id']}", payload=payload
    )


def on_public_works_completed(event: Any, session: Session) -> None:
    """``commerce.public_works.completed`` → a public notice of the improvement."""
    payload = dict(event.payload)
    payload["community_code"] = _community_code(session, payload.get("community_id"))
    notice_from_event(
        session, source="commerce", key=f"works:{payload['ticket_id']}", payload=payload
    )


def _community_code(session: Session, community_id: int | None) -> str | None:
    """Events name a community by its registry id; notices keep its code."""
    if community_id is None:
        return None
    found = reader(session, toolkit.current_kernel(), "public notice").communities()
    return next((c["code"] for c in found if c["id"] == community_id), None)


# ---------------------------------------------------------------------------- finances


def publish_statement(
    session: Session,
    *,
    community: str,
    period: str,
    title: str,
    items: Iterable[dict[str, Any]],
    author_id: int | None = None,
) -> Statement:
    """A period's statement with its line items (income and expense; each may name its
    voucher). One statement per community and period."""
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period or ""):
        raise GovernanceError(N_("Give the period as YYYY-MM."), "period")
    if session.scalar(
        select(Statement.id).where(Statement.community == community, Statement.period == period)
    ):
        raise GovernanceError(N_("A statement for this period exists already."), "period")
    statement = Statement(
        community=community,
        period=period,
        title=(title.strip() or period)[:200],
        author_id=author_id,
        due_on=disclosure_due(period),
    )
    session.add(statement)
    session.flush()
    for item in items:
        if item.get("kind") not in ("income", "expense"):
            raise GovernanceError(N_("A line is income or expense."), "items")
        amount = round(float(item["amount"]), 2)
        if not 0 <= amount < 1e11:
            raise GovernanceError(N_("An amount is between 0 and 100 billion yuan."), "items")
        session.add(
            LineItem(
                statement_id=statement.id,
                kind=item["kind"],
                description=str(item.get("description", ""))[:200],
                amount=amount,
                voucher=(item.get("voucher") or "")[:120] or None,
            )
        )
    session.flush()
    return statement


#: Monthly finances are due on this day of the following month (a local rule; villages
#: publish finances monthly when busy, docs/requirements.md, domain §5).
DISCLOSURE_DAY = 15


def disclosure_due(period: str) -> date:
    """When a period's statement is due: ``DISCLOSURE_DAY`` of the following month."""
    year, month = (int(x) for x in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return date(year, month, DISCLOSURE_DAY)


def statement_totals(session: Session, statement: Statement) -> dict[str, float]:
    rows = session.execute(
        select(LineItem.kind, func.sum(LineItem.amount))
        .where(LineItem.statement_id == statement.id)
        .group_by(LineItem.kind)
    )
    totals = {"income": 0.0, "expense": 0.0}
    totals.update({k: float(v or 0) for k, v in rows})
    totals["balance"] = round(totals["income"] - totals["expense"], 2)
    return totals


def ask_question(session: Session, statement: Statement, *, asker_id: int, text: str) -> Question:
    text = (text or "").strip()
    if not text:
        raise GovernanceError(N_("Enter your question."), "text")
    question = Question(statement_id=statement.id, asker_id=asker_id, text=text[:2000])
    session.add(question)
    session.flush()
    return question


def answer_question(session: Session, question: Question, *, by_id: int, answer: str) -> Question:
    answer = (answer or "").strip()
    if not answer:
        raise GovernanceError(N_("Enter the answer."), "answer")
    question.answer, question.answered_by_id, question.answered_at = answer, by_id, utcnow()
    session.flush()
    return question


def unanswered_questions(session: Session) -> int:
    return (
        session.scalar(select(func.count()).select_from(Question).where(Question.answer.is_(None)))
        or 0
    )


# ============================================================================ proposals

ANSWERS = ("accepted", "rejected", "needs_study")
IMPLEMENTATION = ("not_started", "in_progress", "done")


def _log(
    session: Session, proposal: Proposal, status: str, note: str = "", by_id: int | None = None
) -> None:
    session.add(ProposalUpdate(proposal_id=proposal.id, status=status, note=note, by_id=by_id))


def create_proposal(
    session: Session,
    *,
    community: str,
    author_id: int,
    title: str,
    body: str,
    threshold: int,
    support_days: int,
    submit: bool = True,
) -> Proposal:
    """A draft; ``submit`` opens it for support at once (the usual case)."""
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        raise GovernanceError(N_("Enter a title."), "title")
    if not body:
        raise GovernanceError(N_("Say what you propose."), "body")
    proposal = Proposal(
        community=community,
        author_id=author_id,
        title=title[:200],
        body=body,
        threshold=max(1, threshold),
        status="draft",
    )
    session.add(proposal)
    session.flush()
    _log(session, proposal, "draft", by_id=author_id)
    if submit:
        submit_proposal(session, proposal, support_days=support_days, by_id=author_id)
    return proposal


def submit_proposal(
    session: Session, proposal: Proposal, *, support_days: int, by_id: int | None = None
) -> None:
    if proposal.status != "draft":
        raise GovernanceError(N_("Only a draft can be submitted."), "status")
    proposal.status = "collecting"
    proposal.deadline = utcnow() + timedelta(days=support_days)
    _log(session, proposal, "collecting", by_id=by_id)
    session.flush()


def expire_proposals(session: Session, now: datetime | None = None) -> int:
    """Proposals whose support deadline passed without reaching the threshold."""
    now = now or utcnow()
    rows = session.scalars(
        select(Proposal).where(Proposal.status == "collecting", Proposal.deadline <= now)
    ).all()
    for proposal in rows:
        proposal.status = "expired"
        _log(session, proposal, "expired")
    session.flush()
    return len(rows)


def support_proposal(
    session: Session, proposal: Proposal, *, person_id: int, community: str | None
) -> Proposal:
    """One support per registry person, from the proposal's community, before the
    deadline. Reaching the threshold puts the proposal on the committee's agenda."""
    if proposal.status != "collecting":
        raise GovernanceError(N_("This proposal is not collecting support."), "status")
    if proposal.deadline is not None and aware(proposal.deadline) <= utcnow():
        raise GovernanceError(N_("The deadline for support has passed."), "status")
    if community != proposal.community:
        raise GovernanceError(N_("Only residents of the community can support it."), "person")
    try:
        with session.begin_nested():
            session.add(Support(proposal_id=proposal.id, person_id=person_id))
    except IntegrityError:
        raise GovernanceError(N_("You support this proposal already."), "person") from None
    proposal.support_count = session.scalar(
        select(func.count()).select_from(Support).where(Support.proposal_id == proposal.id)
    )
    if proposal.support_count >= proposal.threshold:
        proposal.status = "agenda"
        _log(session, proposal, "agenda", N_("Enough support: on the committee's agenda."))
    session.flush()
    return proposal


def answer_proposal(
    session: Session, bus: Any, proposal: Proposal, *, answer: str, reason: str, by_id: int | None
) -> Proposal:
    """The committee's official answer, with reasons; publishes
    ``self_governance.proposal.answered``."""
    if proposal.status not in ("agenda", "collecting"):
        raise GovernanceError(N_("This proposal cannot be answered now."), "status")
    if answer not in ANSWERS:
        raise GovernanceError(N_("Choose accepted, rejected or needs study."), "answer")
    reason = (reason or "").strip()
    if not reason:
        raise GovernanceError(N_("Give the reasons."), "reason")
    proposal.status, proposal.answer, proposal.answer_reason = "answered", answer, reason
    proposal.answered_at = utcnow()
    if answer == "accepted":
        proposal.implementation = "not_started"
    _log(session, proposal, answer, reason, by_id)
    session.flush()
    bus.publish(
        session,
        "self_governance.proposal.answered",
        {
            "proposal_id": proposal.id,
            "community": proposal.community,
            "answer": answer,
        },
    )
    return proposal


def update_implementation(
    session: Session, proposal: Proposal, *, status: str, note: str, by_id: int | None
) -> Proposal:
    if proposal.answer != "accepted":
        raise GovernanceError(N_("Only an accepted proposal is implemented."), "status")
    if status not in IMPLEMENTATION:
        raise GovernanceError(N_("Unknown implementation status."), "status")
    proposal.implementation = status
    _log(session, proposal, status, (note or "").strip(), by_id)
    session.flush()
    return proposal


def proposal_timeline(session: Session, proposal_id: int) -> list[ProposalUpdate]:
    return list(
        session.scalars(
            select(ProposalUpdate)
            .where(ProposalUpdate.proposal_id == proposal_id)
            .order_by(ProposalUpdate.at, ProposalUpdate.id)
        )
    )


# ============================================================================ votes

#: Electorate modes (docs/requirements.md, domain §5): who holds a vote, and what a "voter key" is.
ELECTORATES = ("adult", "household", "group_rep", "owner_unit")
QUORUMS = ("none", "half", "two_thirds")
PASS_RULES = ("half", "two_thirds", "three_quarters")
ADULT_AGE = 18


@dataclass(frozen=True)
class Eligibility:
    key: str | None  # None: may not vote
    reason: str = ""
    weight: float = 1.0


def _quorum_met(rule: str, present: Fraction | int, body: Fraction | int) -> bool:
    """``half``: MORE than half of the body took part (Organic Law art. 9 "过半数");
    ``two_thirds``: at least two-thirds ("三分之二以上" includes the number itself)."""
    if rule == "none":
        return True
    if body <= 0:
        return False
    if rule == "half":
        return present * 2 > body
    if rule == "two_thirds":
        return present * 3 >= body * 2
    raise ValueError(rule)


def _passes(rule: str, yes: Fraction | int, present: Fraction | int) -> bool:
    """Of those who took part: ``half`` needs MORE than half; ``two_thirds`` and
    ``three_quarters`` need at least that share (Civil Code art. 278)."""
    if present <= 0:
        return False
    if rule == "half":
        return yes * 2 > present
    if rule == "two_thirds":
        return yes * 3 >= present * 2
    if rule == "three_quarters":
        return yes * 4 >= present * 3
    raise ValueError(rule)


def decide(
    *,
    electorate: int,
    turnout: int,
    yes: int,
    quorum: str,
    pass_rule: str,
    area_total: float | None = None,
    area_turnout: float | None = None,
    area_yes: float | None = None,
) -> tuple[bool, bool]:
    """``(quorum_met, passed)``, in exact fractions. With area figures (an owners'
    assembly) both the headcount and the area must meet quorum and the pass rule."""
    quorum_met = _quorum_met(quorum, turnout, electorate)
    passed = _passes(pass_rule, yes, turnout)
    if area_total is not None:
        at, ap, ay = (
            Fraction(str(area_total)),
            Fraction(str(area_turnout or 0)),
            Fraction(str(area_yes or 0)),
        )
        quorum_met = quorum_met and _quorum_met(quorum, ap, at)
        passed = passed and _passes(pass_rule, ay, ap)
    return quorum_met, quorum_met and passed


def create_vote(
    session: Session,
    *,
    community: str,
    title: str,
    description: str = "",
    kind: str = "motion",
    electorate: str = "adult",
    quorum: str = "half",
    pass_rule: str = "half",  # noqa: S107 - a vote's pass rule, not a password
    secret: bool = True,
    opens_at: datetime,
    closes_at: datetime,
    candidates: Iterable[str] = (),
    seats: int = 1,
    created_by_id: int | None = None,
) -> Vote:
    """A motion (yes / no / abstain) or an election (candidates, up to ``seats`` marked
    per ballot). Elections are always secret (无记名投票)."""
    title = (title or "").strip()
    if not title:
        raise GovernanceError(N_("Enter a title."), "title")
    if electorate not in ELECTORATES:
        raise GovernanceError(N_("Choose an electorate."), "electorate")
    if quorum not in QUORUMS:
        raise GovernanceError(N_("Choose a quorum rule."), "quorum")
    if pass_rule not in PASS_RULES:
        raise GovernanceError(N_("Choose a pass rule."), "pass_rule")
    if kind not in ("motion", "election"):
        raise GovernanceError(N_("A vote is a motion or an election."), "kind")
    opens_at, closes_at = aware(opens_at), aware(closes_at)
    if closes_at <= opens_at:
        raise GovernanceError(N_("The vote must close after it opens."), "closes_at")
    names = [c.strip() for c in candidates if c and c.strip()]
    if kind == "election":
        secret = True
        if len(names) < 1:
            raise GovernanceError(N_("Name at least one candidate."), "candidates")
        if len(set(names)) != len(names):
            raise GovernanceError(N_("A candidate is listed twice."), "candidates")
        if not 1 <= seats <= len(names):
            raise GovernanceError(
                N_("Seats must be between 1 and the number of candidates."), "seats"
            )
    vote = Vote(
        community=community,
        title=title[:200],
        description=description or "",
        kind=kind,
        electorate=electorate,
        quorum=quorum,
        pass_rule=pass_rule,
        secret=secret,
        seats=seats if kind == "election" else 1,
        opens_at=opens_at,
        closes_at=closes_at,
        created_by_id=created_by_id,
    )
    session.add(vote)
    session.flush()
    if kind == "motion":
        options = [("yes", N_("In favour")), ("no", N_("Against")), ("abstain", N_("Abstain"))]
    else:
        options = [(f"c{i + 1}", name[:120]) for i, name in enumerate(names)]
    for pos, (code, label) in enumerate(options):
        session.add(VoteOption(vote_id=vote.id, code=code, label=label, position=pos))
    session.flush()
    return vote


def vote_options(session: Session, vote_id: int) -> list[VoteOption]:
    return list(
        session.scalars(
            select(VoteOption).where(VoteOption.vote_id == vote_id).order_by(VoteOption.position)
        )
    )


def vote_state(vote: Vote, now: datetime | None = None) -> str:
    """upcoming | open | due (past its close, not yet counted) | closed."""
    now = now or utcnow()
    if vote.closed_at is not None:
        return "closed"
    if now < aware(vote.opens_at):
        return "upcoming"
    if now < aware(vote.closes_at):
        return "open"
    return "due"


def eligibility(session: Session, kernel: Any, vote: Vote, person_id: int | None) -> Eligibility:
    """Whether a registry person may vote now, and under which voter key:

    * ``adult`` — every active resident of the community aged 18+: key ``p:<person>``;
    * ``household`` — one vote per household, cast by any adult member: key
      ``h:<household>`` (an adult registered without a household votes as a household of
      one: ``p:<person>``);
    * ``group_rep`` — the residents' group representatives the committee designated
      (:class:`GroupRep`), still active residents: key ``p:<person>``;
    * ``owner_unit`` — one vote per dwelling (Civil Code art. 278 counts one head per
      exclusive unit): key ``d:<dwelling>``. The registry does not tell plugins who owns a
      dwelling nor its area, so an adult resident of the dwelling casts its vote and every
      dwelling weighs 1 (see docs/plugins/self_governance.md, "Owners' assembly").

    A person who moved out, died or was merged is no longer active and cannot vote."""
    if person_id is None:
        return Eligibility(None, N_("Only verified residents can vote."))
    read = reader(session, kernel, f"eligibility for vote {vote.id}")
    try:
        person = read.person(person_id)
    except ScopeError:
        return Eligibility(None, N_("You are not in the registry."))
    if person["status"] != "active" or person["community"] != vote.community:
        return Eligibility(None, N_("You are not a resident of this community."))
    age = read.age(person_id)
    if age is None or age < ADULT_AGE:
        return Eligibility(None, N_("Only residents aged 18 or over can vote."))
    if vote.electorate == "adult":
        return Eligibility(f"p:{person_id}")
    if vote.electorate == "household":
        hid = person.get("household_id")
        return Eligibility(f"h:{hid}" if hid else f"p:{person_id}")
    if vote.electorate == "group_rep":
        rep = session.scalar(
            select(GroupRep.id).where(
                GroupRep.community == vote.community, GroupRep.person_id == person_id
            )
        )
        if rep is None:
            return Eligibility(None, N_("Only residents' group representatives vote here."))
        return Eligibility(f"p:{person_id}")
    did = person.get("dwelling_id")
    if not did:
        return Eligibility(None, N_("Only residents of a dwelling vote here."))
    return Eligibility(f"d:{did}")


def electorate_size(session: Session, kernel: Any, vote: Vote) -> dict[str, Any]:
    """How many voter keys the electorate has, from the registry now (at the close).
    ``area`` is None: the registry gives plugins no dwelling areas (the documented gap)."""
    read = reader(session, kernel, f"electorate of vote {vote.id}")
    if vote.electorate == "group_rep":
        ids = list(
            session.scalars(select(GroupRep.person_id).where(GroupRep.community == vote.community))
        )
        people = read.persons(ids)
        count = sum(
            1 for p in people if p["status"] == "active" and p["community"] == vote.community
        )
        return {"count": count, "area": None}
    keys: set[str] = set()
    page = 1
    while True:
        found = read.search(
            community=vote.community,
            age_min=ADULT_AGE,
            status="active",
            page=page,
            per_page=100,
            with_total=False,
        )
        for p in found.items:
            if vote.electorate == "adult":
                keys.add(f"p:{p['id']}")
            elif vote.electorate == "household":
                hid = p.get("household_id")
                keys.add(f"h:{hid}" if hid else f"p:{p['id']}")
            elif p.get("dwelling_id"):
                keys.add(f"d:{p['dwelling_id']}")
        if len(found.items) < 100:
            break
        page += 1
    return {"count": len(keys), "area": None}


def has_voted(session: Session, vote: Vote, key: str | None) -> bool:
    if key is None:
        return False
    return (
        session.scalar(
            select(VoterRoll.id).where(VoterRoll.vote_id == vote.id, VoterRoll.voter_key == key)
        )
        is not None
    )


def cast_ballot(
    session: Session,
    kernel: Any,
    vote: Vote,
    *,
    person_id: int | None,
    user_id: int | None,
    selection: Iterable[str],
) -> None:
    """Put the voter key on the roll and the ballot in the box, in one transaction.

    The roll's unique (vote, voter key) constraint is the guarantee: of any number of
    concurrent casts for one key, exactly one commits (the others fail on the constraint
    and roll back their ballot with them). A secret vote's ballot is stored *sealed*
    (:mod:`.sealing`: encrypted under a key that is not in the database) until the close
    opens, shuffles and rewrites the box; an open vote's ballot is plain at once and the
    roll keeps the choice, which is public."""
    if vote_state(vote) != "open":
        raise GovernanceError(N_("This vote is not open."), "vote")
    chosen = sorted({str(s) for s in selection if s})
    codes = {o.code for o in vote_options(session, vote.id)}
    if not chosen or not set(chosen) <= codes:
        raise GovernanceError(N_("Choose an option."), "choice")
    if vote.kind == "motion" and len(chosen) != 1:
        raise GovernanceError(N_("Choose one option."), "choice")
    if vote.kind == "election" and len(chosen) > vote.seats:
        raise GovernanceError(N_("Choose at most %(n)s candidates."), "choice", n=vote.seats)
    elig = eligibility(session, kernel, vote, person_id)
    if elig.key is None:
        raise GovernanceError(elig.reason, "vote")
    if has_voted(session, vote, elig.key):
        raise AlreadyVoted(N_("A vote has already been cast for you (or your household)."), "vote")
    selection_text = ",".join(chosen)
    if len(selection_text) > 200:
        raise GovernanceError(N_("Choose fewer options."), "choice")
    if vote.secret:
        box = sealing.seal(kernel, "ballot", vote.id, {"s": selection_text, "w": elig.weight})
        ballot: Any = SealedBallot(vote_id=vote.id, box=box)
    else:
        ballot = Ballot(vote_id=vote.id, selection=selection_text, weight=elig.weight)
    try:
        with session.begin_nested():
            session.add(
                VoterRoll(
                    vote_id=vote.id,
                    voter_key=elig.key,
                    person_id=person_id,
                    user_id=user_id,
                    public_choice=None if vote.secret else selection_text,
                )
            )
            session.add(ballot)
    except IntegrityError:
        raise AlreadyVoted(
            N_("A vote has already been cast for you (or your household)."), "vote"
        ) from None


def voter_status(
    session: Session, kernel: Any, vote: Vote, person_id: int | None
) -> dict[str, Any]:
    """What the resident's page says: may they vote, have they (or their household)."""
    elig = eligibility(session, kernel, vote, person_id)
    return {
        "eligible": elig.key is not None,
        "reason": elig.reason,
        "voted": has_voted(session, vote, elig.key),
    }


def ballots_in_box(session: Session, vote_id: int) -> int:
    """How many ballots the box holds, sealed or plain (the roll must say the same)."""
    sealed = session.scalar(
        select(func.count()).select_from(SealedBallot).where(SealedBallot.vote_id == vote_id)
    )
    plain = session.scalar(
        select(func.count()).select_from(Ballot).where(Ballot.vote_id == vote_id)
    )
    return int(sealed or 0) + int(plain or 0)


def tally(session: Session, vote: Vote, electorate: dict[str, Any]) -> dict[str, Any]:
    """The result, recomputed from the stored plain ballots (never from a running
    counter). A secret vote has plain ballots only once :func:`close_vote` opened the
    sealed box."""
    options = vote_options(session, vote.id)
    counts = {o.code: 0 for o in options}
    weights = {o.code: 0.0 for o in options}
    turnout, area_turnout = 0, 0.0
    for selection, weight in session.execute(
        select(Ballot.selection, Ballot.weight).where(Ballot.vote_id == vote.id)
    ):
        turnout += 1
        area_turnout += float(weight or 0)
        for code in selection.split(","):
            if code in counts:
                counts[code] += 1
                weights[code] += float(weight or 0)
    roll = (
        session.scalar(
            select(func.count()).select_from(VoterRoll).where(VoterRoll.vote_id == vote.id)
        )
        or 0
    )
    size = int(electorate["count"])
    area_total = electorate.get("area")
    result: dict[str, Any] = {
        "electorate": size,
        "turnout": turnout,
        "roll": roll,
        "consistent": roll == turnout,
        "turnout_pct": round(100 * turnout / size, 1) if size else 0.0,
        "counts": counts,
        "area_available": area_total is not None,
        "options": [{"code": o.code, "label": o.label, "votes": counts[o.code]} for o in options],
    }
    area = {}
    if vote.electorate == "owner_unit":
        # Area weights: each dwelling weighs 1 while the registry gives no areas, so the
        # area majority equals the headcount majority (documented fallback).
        area = {
            "area_total": float(area_total) if area_total is not None else float(size),
            "area_turnout": area_turnout,
        }
    if vote.kind == "motion":
        quorum_met, passed = decide(
            electorate=size,
            turnout=turnout,
            yes=counts.get("yes", 0),
            quorum=vote.quorum,
            pass_rule=vote.pass_rule,
            **({**area, "area_yes": weights.get("yes", 0.0)} if area else {}),
        )
        result.update(quorum_met=quorum_met, passed=passed, elected=[])
    else:
        quorum_met = decide(
            electorate=size, turnout=turnout, yes=0, quorum=vote.quorum, pass_rule=vote.pass_rule
        )[0]
        ranked = sorted(options, key=lambda o: (-counts[o.code], o.position))
        winners = [
            o for o in ranked if quorum_met and _passes(vote.pass_rule, counts[o.code], turnout)
        ]
        elected = winners[: vote.seats]
        tie = (
            len(winners) > vote.seats
            and counts[winners[vote.seats].code] == counts[elected[-1].code]
        )
        if tie:  # a tie at the last seat: those tied are not elected; a new round decides
            cut = counts[elected[-1].code]
            elected = [o for o in elected if counts[o.code] > cut]
        result.update(
            quorum_met=quorum_met, passed=bool(elected), tie=tie, elected=[o.label for o in elected]
        )
    return result


def close_vote(
    session: Session, kernel: Any, bus: Any, vote: Vote, *, now: datetime | None = None
) -> dict[str, Any]:
    """Count a vote whose time is up; publishes ``self_governance.vote.closed``.

    A secret vote's sealed box is opened first, in this same transaction: every ballot is
    decrypted, the plain ballots are written with fresh random keys in random order and
    the sealed rows deleted (:func:`_open_box`), so nothing written at cast time links a
    plain ballot to a roll row. After the commit the database files are cleaned of the
    old pages (:func:`scrub_after_close`). A box that cannot be opened (the app's secret
    key changed since the vote opened) refuses the count and leaves everything as it
    was: restore the old key and count again."""
    if vote.closed_at is not None:
        return vote.result or {}
    now = now or utcnow()
    if now < aware(vote.closes_at):
        raise GovernanceError(N_("The vote is still open."), "vote")
    if vote.secret:
        _opened(session, kernel, vote.id)  # before any write: may refuse
    # Lock the vote row so two closers cannot both count and publish.
    locked = session.execute(
        update(Vote).where(Vote.id == vote.id, Vote.closed_at.is_(None)).values(closed_at=now)
    )
    if locked.rowcount == 0:
        session.refresh(vote)
        return vote.result or {}
    if vote.secret:
        # read again under the lock: the box as it is now, not as it was a moment ago
        _open_box(session, vote.id, _opened(session, kernel, vote.id))
    electorate = electorate_size(session, kernel, vote)
    result = tally(session, vote, electorate)
    vote.result = result
    vote.closed_at = now
    session.flush()
    bus.publish(
        session,
        "self_governance.vote.closed",
        {
            "vote_id": vote.id,
            "community": vote.community,
            "passed": bool(result["passed"]),
            "quorum_met": bool(result["quorum_met"]),
            "turnout": result["turnout"],
            "electorate": result["electorate"],
        },
    )
    return result


class BoxError(GovernanceError):
    """A sealed box cannot be opened (409 in the API): see :func:`close_vote`."""


def _opened(session: Session, kernel: Any, vote_id: int) -> list[tuple[str, float]]:
    """Every ballot of a secret vote in plain, ``(selection, weight)``: the sealed ones
    opened, and any plain ones (written before sealing existed) as they are."""
    open_box = sealing.opener(kernel, "ballot", vote_id)
    rows: list[tuple[str, float]] = []
    try:
        for (box,) in session.execute(
            select(SealedBallot.box).where(SealedBallot.vote_id == vote_id)
        ):
            content = open_box(box)
            rows.append((str(content["s"]), float(content["w"])))
    except (sealing.SealError, KeyError, TypeError, ValueError):
        log.error("vote %s: a sealed ballot cannot be opened (secret key changed?)", vote_id)
        raise BoxError(
            N_(
                "The sealed ballots cannot be opened: the application's secret key has "
                "changed since the vote opened. Restore the previous key, then count again."
            ),
            "vote",
        ) from None
    rows += [
        (sel, float(w or 0))
        for sel, w in session.execute(
            select(Ballot.selection, Ballot.weight).where(Ballot.vote_id == vote_id)
        )
    ]
    return rows


def _open_box(session: Session, vote_id: int, rows: list[tuple[str, float]]) -> None:
    """Replace the box of a secret vote by its plain ballots in one transaction: the
    sealed rows (and any older plain ones) deleted — zeroed on SQLite — and the ballots
    written with fresh random keys, shuffled, in key order, so neither their keys, their
    order, their pages nor their transaction say anything about the order of casting."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:  # overwrite the deleted boxes' bytes instead of leaving them in free pages
        # (left on for that pooled connection: zeroing what is deleted costs little)
        session.execute(text("PRAGMA secure_delete = ON"))
    session.execute(delete(SealedBallot).where(SealedBallot.vote_id == vote_id))
    session.execute(delete(Ballot).where(Ballot.vote_id == vote_id))
    fresh = [Ballot(id=random_key(), vote_id=vote_id, selection=s, weight=w) for s, w in rows]
    random.SystemRandom().shuffle(fresh)
    session.add_all(sorted(fresh, key=lambda b: b.id))
    session.flush()
    _scrub_on_commit(session, ("self_governance_sealed_ballot", "self_governance_ballot"))


# ----------------------------------------------------------------- after the box is opened

_SCRUB = "self_governance.scrub"


def _scrub_on_commit(session: Session, tables: tuple[str, ...]) -> None:
    """Ask for :func:`scrub_after_close` once this session's transaction commits (never
    on a rollback: then nothing was opened)."""
    pending = session.info.setdefault(_SCRUB, set())
    pending.update(tables)
    if not session.info.get(_SCRUB + ".listening"):
        session.info[_SCRUB + ".listening"] = True
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", lambda s: s.info.get(_SCRUB, set()).clear())


def _after_commit(session: Session) -> None:
    tables = sorted(session.info.get(_SCRUB) or ())
    if not tables:
        return
    session.info[_SCRUB] = set()
    try:
        scrub_after_close(session.get_bind(), tables)
    except Exception:  # the count is committed; cleaning the files is best effort
        log.exception("could not scrub the database files after opening a ballot box")


def scrub_after_close(engine: Any, tables: Iterable[str]) -> None:
    """Clean the database files of what the open period wrote, outside any transaction.

    SQLite: ``PRAGMA wal_checkpoint(TRUNCATE)`` copies the WAL into the database file and
    truncates it to zero bytes, so the frames that showed each cast (roll row and sealed
    box side by side) are gone from the ``-wal`` file; the boxes' cells were zeroed by
    ``secure_delete`` when they were deleted. PostgreSQL: ``VACUUM`` of the ballot tables
    removes the dead sealed tuples from the heap (it cannot while an older snapshot is
    still open; the next autovacuum does). WAL segments of the open period stay until
    PostgreSQL recycles them — they hold only sealed boxes (docs: the threat model)."""
    dialect = engine.dialect.name
    if dialect == "sqlite":
        with engine.connect() as conn:
            # wait a little for readers of older snapshots, not the full busy timeout
            busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            conn.exec_driver_sql("PRAGMA busy_timeout = 3000")
            try:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()
            finally:
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(busy or 0)}")
    elif dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                if table.isidentifier() and table.startswith(PLUGIN + "_"):
                    conn.exec_driver_sql(f"VACUUM {table}")


def close_due_votes(session: Session, kernel: Any, bus: Any) -> list[int]:
    """Count every vote past its close (the CLI, and the pages on the way)."""
    now = utcnow()
    due = session.scalars(select(Vote).where(Vote.closed_at.is_(None), Vote.closes_at <= now))
    closed = []
    for vote in due.all():
        try:
            close_vote(session, kernel, bus, vote, now=now)
        except BoxError:
            continue  # logged; the other votes are counted all the same
        closed.append(vote.id)
    return closed


ROLL_KEY_KINDS = {"p": N_("In person"), "h": N_("For the household"), "d": N_("For the dwelling")}


def vote_roll(session: Session, kernel: Any, vote: Vote, *, actor: Any) -> list[dict[str, Any]]:
    """Who has voted, for the committee: one row per roll entry the ``actor`` may see —
    the voter's name read through the scoped reader under the actor's own place scope
    (a person outside it is left out), how they voted (in person, for the household,
    for the dwelling), when, and for an open vote the public choice. Each person shown
    gets an entry in their access log (the reader logs the registry read; this logs the
    plugin's own record of their participation)."""
    purpose = f"vote roll of vote {vote.id}"
    roll = list(
        session.scalars(
            select(VoterRoll)
            .where(VoterRoll.vote_id == vote.id)
            .order_by(VoterRoll.voted_at, VoterRoll.id)
        )
    )
    people = {
        p["id"]: p
        for p in toolkit.registry_reader(
            session, PLUGIN, actor=actor, purpose=purpose, kernel=kernel
        ).persons(sorted({r.person_id for r in roll}))
    }
    fields = ["vote_participation"] + ([] if vote.secret else ["vote_public_choice"])
    out = []
    for row in roll:
        person = people.get(row.person_id)
        if person is None:
            continue  # outside the actor's places
        toolkit.log_person_access(
            session,
            person_id=row.person_id,
            fields=fields,
            purpose=purpose,
            plugin=PLUGIN,
            actor=actor,
            masked=False,
        )
        out.append(
            {
                "person_id": row.person_id,
                "name": person["name"],
                "kind": ROLL_KEY_KINDS.get(row.voter_key.split(":", 1)[0], ""),
                "voted_at": row.voted_at,
                "public_choice": None if vote.secret else row.public_choice,
            }
        )
    session.flush()
    return out


def set_group_rep(
    session: Session, *, community: str, person_id: int, group_name: str = ""
) -> GroupRep:
    rep = session.scalar(
        select(GroupRep).where(GroupRep.community == community, GroupRep.person_id == person_id)
    )
    if rep is None:
        rep = GroupRep(community=community, person_id=person_id, group_name=group_name)
        session.add(rep)
    rep.group_name = group_name
    session.flush()
    return rep


# ============================================================================ forum


def ensure_default_boards(session: Session) -> None:
    if session.scalar(select(func.count()).select_from(Board)):
        return
    for pos, (slug, name, desc) in enumerate(
        [
            ("general", "邻里交流", "社区大小事，邻里互助"),
            ("suggestions", "意见建议", "对社区工作的意见和建议"),
            ("market", "闲置互换", "闲置物品交换、赠送"),
        ]
    ):
        session.add(Board(slug=slug, name=name, description=desc, position=pos))
    session.flush()


def active_mute(session: Session, user_id: int) -> Mute | None:
    return session.scalar(
        select(Mute)
        .where(Mute.user_id == user_id, Mute.until > utcnow())
        .order_by(Mute.until.desc())
    )


def _check_poster(session: Session, user: Any, settings: dict[str, Any]) -> None:
    if settings.get("verified_only_posting", True) and not getattr(user, "is_verified", False):
        raise GovernanceError(N_("Only verified residents can post."), "body")
    if active_mute(session, user.id) is not None:
        raise GovernanceError(N_("You are muted and cannot post for now."), "body")
    created = aware(getattr(user, "created_at", None))
    new_days = int(settings.get("new_user_days", 7))
    if created is not None and utcnow() - created < timedelta(days=new_days):
        limit = int(settings.get("new_user_posts_per_hour", 5))
        recent = (
            session.scalar(
                select(func.count())
                .select_from(Post)
                .where(Post.author_id == user.id, Post.created_at > utcnow() - timedelta(hours=1))
            )
            or 0
        )
        if recent >= limit:
            raise GovernanceError(
                N_("New accounts may post %(n)s times an hour; please wait a little."),
                "body",
                n=limit,
            )


def _add_post(session: Session, thread: Thread, user: Any, body: str) -> Post:
    body = (body or "").strip()
    if not body:
        raise GovernanceError(N_("Write something."), "body")
    if len(body) > 5000:
        raise GovernanceError(N_("A post is at most 5000 characters."), "body")
    post = Post(thread_id=thread.id, author_id=user.id, body=body, html=markup.render(body))
    session.add(post)
    thread.last_post_at = utcnow()
    session.flush()
    mentioned: set[int] = set()
    for name in sorted(set(markup.mentions(body)))[:MAX_MENTIONS]:
        account = toolkit.find_account(session, name)  # exact, never a LIKE pattern
        if account is not None and account.id != user.id and account.id not in mentioned:
            session.add(Mention(post_id=post.id, user_id=account.id))
            mentioned.add(account.id)
    link = f"/self-governance/threads/{thread.id}#post-{post.id}"
    for uid in sorted(mentioned):
        notify(
            session,
            None,
            user_id=uid,
            title=f"有人在“{thread.title[:60]}”中提到了您",
            link=link,
            source=PLUGIN,
        )
    followers = session.scalars(select(Follow.user_id).where(Follow.thread_id == thread.id))
    for uid in sorted(set(followers) - mentioned - {user.id}):
        notify(
            session,
            None,
            user_id=uid,
            title=f"您关注的“{thread.title[:60]}”有新回复",
            link=link,
            source=PLUGIN,
        )
    follow_thread(session, thread, user.id)
    session.flush()
    return post


#: Mentions notified per post (the rest of the names stay plain text).
MAX_MENTIONS = 20


def start_thread(
    session: Session, board: Board, user: Any, *, title: str, body: str, settings: dict[str, Any]
) -> Thread:
    _check_poster(session, user, settings)
    title = (title or "").strip()
    if not title:
        raise GovernanceError(N_("Enter a title."), "title")
    thread = Thread(board_id=board.id, author_id=user.id, title=title[:200])
    session.add(thread)
    session.flush()
    _add_post(session, thread, user, body)
    return thread


def reply(
    session: Session, thread: Thread, user: Any, *, body: str, settings: dict[str, Any]
) -> Post:
    if thread.locked:
        raise GovernanceError(N_("This thread is locked."), "body")
    if thread.hidden:
        raise GovernanceError(N_("This thread is hidden."), "body")
    _check_poster(session, user, settings)
    return _add_post(session, thread, user, body)


def follow_thread(session: Session, thread: Thread, user_id: int, follow: bool = True) -> None:
    row = session.scalar(
        select(Follow).where(Follow.thread_id == thread.id, Follow.user_id == user_id)
    )
    if follow and row is None:
        session.add(Follow(thread_id=thread.id, user_id=user_id))
    elif not follow and row is not None:
        session.delete(row)
    session.flush()


def report_post(
    session: Session, bus: Any, post: Post, *, reporter_id: int, reason: str, hide_after: int
) -> Post:
    """One report per resident per post; ``hide_after`` reports hide the post pending a
    moderator's review (and publish ``self_governance.post.hidden``)."""
    if post.author_id == reporter_id:
        raise GovernanceError(N_("You cannot report your own post."), "reason")
    try:
        with session.begin_nested():
            session.add(
                Report(
                    post_id=post.id, reporter_id=reporter_id, reason=(reason or "").strip()[:200]
                )
            )
    except IntegrityError:
        raise GovernanceError(N_("You reported this post already."), "reason") from None
    post.report_count = (
        session.scalar(
            select(func.count())
            .select_from(Report)
            .where(Report.post_id == post.id, Report.resolved.is_(False))
        )
        or 0
    )
    if post.report_count >= hide_after and not post.hidden:
        post.hidden, post.pending_review = True, True
        post.hidden_reason = N_("Hidden after reports, pending review.")
        session.add(
            ModerationLog(
                moderator_id=None,
                action="auto_hide",
                target_type="post",
                target_id=post.id,
                reason=f"{post.report_count} reports",
            )
        )
        _post_hidden(session, bus, post, "reports")
    session.flush()
    return post


def _post_hidden(session: Session, bus: Any, post: Post, why: str) -> None:
    thread = session.get(Thread, post.thread_id)
    bus.publish(
        session,
        "self_governance.post.hidden",
        {
            "post_id": post.id,
            "thread_id": post.thread_id,
            "board_id": thread.board_id if thread else None,
            "reason": why,
        },
    )


MOD_ACTIONS = ("hide", "restore", "lock", "unlock", "move", "dismiss")


def moderate(
    session: Session,
    bus: Any,
    *,
    moderator_id: int,
    action: str,
    post: Post | None = None,
    thread: Thread | None = None,
    reason: str,
    board: Board | None = None,
) -> None:
    """A moderator's action, always with a reason, always logged."""
    reason = (reason or "").strip()
    if not reason:
        raise GovernanceError(N_("Give a reason."), "reason")
    if action not in MOD_ACTIONS:
        raise GovernanceError(N_("Unknown action."), "action")
    target_type, target_id = ("post", post.id) if post is not None else ("thread", thread.id)
    if action == "hide" and post is not None:
        post.hidden, post.pending_review, post.hidden_reason = True, False, reason[:200]
        _post_hidden(session, bus, post, "moderator")
    elif action == "hide" and thread is not None:
        thread.hidden = True
    elif action == "restore" and post is not None:
        post.hidden, post.pending_review, post.hidden_reason = False, False, None
        session.execute(update(Report).where(Report.post_id == post.id).values(resolved=True))
        post.report_count = 0
    elif action == "restore" and thread is not None:
        thread.hidden = False
    elif action == "dismiss" and post is not None:  # reports unfounded, post stays visible
        session.execute(update(Report).where(Report.post_id == post.id).values(resolved=True))
        post.report_count, post.pending_review, post.hidden = 0, False, False
    elif action in ("lock", "unlock") and thread is not None:
        thread.locked = action == "lock"
    elif action == "move" and thread is not None and board is not None:
        thread.board_id = board.id
    else:
        raise GovernanceError(N_("This action does not apply here."), "action")
    session.add(
        ModerationLog(
            moderator_id=moderator_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            reason=reason[:200],
        )
    )
    session.flush()


def mute_user(session: Session, *, moderator_id: int, user_id: int, days: int, reason: str) -> Mute:
    reason = (reason or "").strip()
    if not reason:
        raise GovernanceError(N_("Give a reason."), "reason")
    if not 1 <= days <= 365:
        raise GovernanceError(N_("Mute for 1 to 365 days."), "days")
    mute = Mute(
        user_id=user_id,
        until=utcnow() + timedelta(days=days),
        reason=reason[:200],
        by_id=moderator_id,
    )
    session.add(mute)
    session.add(
        ModerationLog(
            moderator_id=moderator_id,
            action="mute",
            target_type="user",
            target_id=user_id,
            reason=reason[:200],
        )
    )
    session.flush()
    return mute


def moderation_queue(session: Session) -> dict[str, Any]:
    """Posts with open reports or hidden pending review, and the counts."""
    posts = list(
        session.scalars(
            select(Post)
            .where(or_(Post.pending_review.is_(True), Post.report_count > 0))
            .order_by(Post.report_count.desc(), Post.id)
        )
    )
    return {
        "posts": posts,
        "pending": sum(1 for p in posts if p.pending_review),
        "reported": sum(1 for p in posts if p.report_count > 0),
    }


# ============================================================================ evaluation

GRADES = ("competent", "basic", "incompetent")


def create_round(
    session: Session, *, community: str, year: int, members: Iterable[tuple], closes_at: datetime
) -> EvaluationRound:
    if session.scalar(
        select(EvaluationRound.id).where(
            EvaluationRound.community == community, EvaluationRound.year == year
        )
    ):
        raise GovernanceError(N_("This year's evaluation exists already."), "year")
    rnd = EvaluationRound(community=community, year=year, closes_at=aware(closes_at))
    session.add(rnd)
    session.flush()
    for name, post in members:
        session.add(EvaluationMember(round_id=rnd.id, name=name, post=post))
    session.flush()
    return rnd


def submit_ratings(
    session: Session,
    rnd: EvaluationRound,
    *,
    person_id: int | None,
    community: str | None,
    grades: dict[int, str],
    kernel: Any = None,
) -> None:
    """One rating sheet per resident; the grades carry no rater (like a secret ballot)
    and, until the round closes, are stored only sealed (:func:`open_due_rounds`)."""
    if person_id is None or community != rnd.community:
        raise GovernanceError(N_("Only residents of the community can take part."), "grades")
    if utcnow() >= aware(rnd.closes_at):
        raise GovernanceError(N_("This evaluation has closed."), "grades")
    members = {
        m.id
        for m in session.scalars(
            select(EvaluationMember).where(EvaluationMember.round_id == rnd.id)
        )
    }
    if set(grades) != members or not all(g in GRADES for g in grades.values()):
        raise GovernanceError(N_("Rate every member."), "grades")
    sheet = {str(m): GRADES.index(g) for m, g in sorted(grades.items())}
    box = sealing.seal(kernel or toolkit.current_kernel(), "rating", rnd.id, sheet)
    try:
        with session.begin_nested():
            session.add(EvaluationRoll(round_id=rnd.id, person_id=person_id))
            session.add(SealedRating(round_id=rnd.id, box=box))
    except IntegrityError:
        raise GovernanceError(N_("You have taken part already."), "grades") from None


def open_due_rounds(session: Session, kernel: Any, now: datetime | None = None) -> list[int]:
    """Open the sealed rating sheets of every round past its close: each sheet becomes
    one :class:`Rating` per member, all written in one transaction in random order with
    random keys, and the sheets deleted (as :func:`close_vote` does for ballots). A round
    whose sheets cannot be opened (secret key changed) is skipped and logged."""
    now = now or utcnow()
    due = session.scalars(
        select(EvaluationRound)
        .where(
            EvaluationRound.closes_at <= now,
            select(SealedRating.id).where(SealedRating.round_id == EvaluationRound.id).exists(),
        )
        .with_for_update(skip_locked=True)
    ).all()
    opened = []
    for rnd in due:
        open_box = sealing.opener(kernel, "rating", rnd.id)
        ratings = []
        try:
            for (box,) in session.execute(
                select(SealedRating.box).where(SealedRating.round_id == rnd.id)
            ):
                sheet = open_box(box)
                ratings += [(int(m), GRADES[int(g)]) for m, g in sheet.items()]
        except (sealing.SealError, IndexError, TypeError, ValueError, AttributeError):
            log.error("evaluation %s: a sealed sheet cannot be opened (secret key?)", rnd.id)
            continue
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("PRAGMA secure_delete = ON"))
        session.execute(delete(SealedRating).where(SealedRating.round_id == rnd.id))
        fresh = [Rating(id=random_key(), member_id=m, grade=g) for m, g in ratings]
        random.SystemRandom().shuffle(fresh)
        session.add_all(sorted(fresh, key=lambda r: r.id))
        session.flush()
        _scrub_on_commit(session, ("self_governance_sealed_rating", "self_governance_rating"))
        opened.append(rnd.id)
    return opened


def evaluation_results(session: Session, rnd: EvaluationRound) -> list[dict[str, Any]]:
    """Aggregates per member (counts of each grade and the share rated competent)."""
    out = []
    for member in session.scalars(
        select(EvaluationMember)
        .where(EvaluationMember.round_id == rnd.id)
        .order_by(EvaluationMember.id)
    ):
        counts = {g: 0 for g in GRADES}
        for grade, n in session.execute(
            select(Rating.grade, func.count())
            .where(Rating.member_id == member.id)
            .group_by(Rating.grade)
        ):
            counts[grade] = n
        total = sum(counts.values())
        out.append(
            {
                "member": member.name,
                "post": member.post,
                "counts": counts,
                "total": total,
                "competent_pct": round(100 * counts["competent"] / total, 1) if total else 0,
            }
        )
    return out


def has_rated(session: Session, rnd: EvaluationRound, person_id: int | None) -> bool:
    return (
        person_id is not None
        and session.scalar(
            select(EvaluationRoll.id).where(
                EvaluationRoll.round_id == rnd.id, EvaluationRoll.person_id == person_id
            )
        )
        is not None
    )


# ============================================================================ supervision


def supervision(session: Session, community: str | None) -> dict[str, Any]:
    """The committee's record in one place."""
    props = select(Proposal)
    if community:
        props = props.where(Proposal.community == community)
    proposals = list(session.scalars(props))
    due = [p for p in proposals if p.status in ("agenda", "answered")]
    statements = list(session.scalars(select(Statement).order_by(Statement.period.desc())))
    on_time = [
        s for s in statements if s.due_on is None or aware(s.published_at).date() <= s.due_on
    ]
    rounds = list(session.scalars(select(EvaluationRound).order_by(EvaluationRound.year.desc())))
    return {
        "proposals_due": len(due),
        "proposals_answered": sum(1 for p in proposals if p.status == "answered"),
        "accepted": sum(1 for p in proposals if p.answer == "accepted"),
        "implemented": sum(1 for p in proposals if p.implementation == "done"),
        "statements": len(statements),
        "statements_on_time": len(on_time),
        "questions_open": unanswered_questions(session),
        "evaluations": [
            (r, evaluation_results(session, r)) for r in rounds if aware(r.closes_at) <= utcnow()
        ],
    }
