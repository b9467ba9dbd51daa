"""Votes: the decision arithmetic (:func:`decide`), making a vote, its state, casting a
ballot under the voter key's unique constraint, and the tally from the stored ballots.

The rules follow docs/requirements.md, domain §5 (Organic Law of Urban Residents'
Committees art. 9, Civil Code art. 278)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.toolkit import N_, utcnow
from plugins.self_governance import sealing
from plugins.self_governance.models import (
    Ballot,
    SealedBallot,
    Vote,
    VoteOption,
    VoterRoll,
)
from plugins.self_governance.services.common import AlreadyVoted, GovernanceError, aware
from plugins.self_governance.services.electorates import (
    ELECTORATES,
    eligibility,
    ensure_frozen,
    freeze_electorate,
)

QUORUMS = ("none", "half", "two_thirds")
PASS_RULES = ("half", "two_thirds", "three_quarters")

#: The matters of Civil Code art. 278 (1)-(9) an owners' assembly decides, each with the
#: pass rule the article sets: (6) raising and using the maintenance fund, (7) rebuilding,
#: (8) changing the use of common parts or using them for business need at least three
#: quarters of the participating area AND of the participating owners; the others more
#: than half of both. The quorum is always two thirds of all area AND of all owners.
MATTERS: dict[str, str] = {
    "rules_of_procedure": "half",  # (1) 制定和修改业主大会议事规则
    "management_rules": "half",  # (2) 制定和修改管理规约
    "committee": "half",  # (3) 选举业主委员会或者更换业主委员会成员
    "property_manager": "half",  # (4) 选聘和解聘物业服务企业或者其他管理人
    "fund_use": "half",  # (5) 使用建筑物及其附属设施的维修资金
    "fund_raise": "three_quarters",  # (6) 筹集建筑物及其附属设施的维修资金
    "rebuild": "three_quarters",  # (7) 改建、重建建筑物及其附属设施
    "common_use": "three_quarters",  # (8) 改变共有部分的用途或者利用共有部分从事经营活动
    "other_major": "half",  # (9) 有关共有和共同管理权利的其他重大事项
}
MATTER_ITEMS = {m: i + 1 for i, m in enumerate(MATTERS)}


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
    matter: str | None = None,
) -> Vote:
    """A motion (yes / no / abstain) or an election (candidates, up to ``seats`` marked
    per ballot). Elections are always secret (无记名投票). An owners' assembly
    (``electorate="owner_unit"``) names its Civil Code art. 278 ``matter``, which sets the
    quorum (two thirds) and the pass rule (:data:`MATTERS`); ``quorum`` and ``pass_rule``
    are then ignored, since the law, not the committee, decides them."""
    title = (title or "").strip()
    if not title:
        raise GovernanceError(N_("Enter a title."), "title")
    if electorate not in ELECTORATES:
        raise GovernanceError(N_("Choose an electorate."), "electorate")
    if electorate == "owner_unit":
        if matter not in MATTERS:
            raise GovernanceError(
                N_("Choose the matter the owners decide (Civil Code art. 278)."), "matter"
            )
        quorum, pass_rule = "two_thirds", MATTERS[matter]
    else:
        matter = None
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
        matter=matter,
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


def open_vote_now(session: Session, kernel: Any, vote: Vote) -> Vote:
    """Open an upcoming vote at once and freeze its electorate (the committee's step
    after checking the preview)."""
    if vote_state(vote) != "upcoming":
        raise GovernanceError(N_("Only a vote that has not opened yet can be opened."), "vote")
    now = utcnow()
    vote.opens_at = now
    session.flush()
    freeze_electorate(session, kernel, vote, now=now)
    return vote


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
) -> VoterRoll:
    """Put the voter key on the roll and the ballot in the box, in one transaction;
    returns the roll row, whose ``receipt`` the voter is shown.

    The roll's unique (vote, voter key) constraint is the guarantee: of any number of
    concurrent casts for one key, exactly one commits (the others fail on the constraint
    and roll back their ballot with them). A secret vote's ballot is stored *sealed*
    (:mod:`.sealing`: encrypted under a key that is not in the database) until the close
    opens, shuffles and rewrites the box; an open vote's ballot is plain at once and the
    roll keeps the choice, which is public."""
    chosen = check_selection(session, vote, selection)
    ensure_frozen(session, kernel, vote)  # the first cast after the opening freezes
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
            roll = VoterRoll(
                vote_id=vote.id,
                voter_key=elig.key,
                person_id=person_id,
                user_id=user_id,
                public_choice=None if vote.secret else selection_text,
                receipt=new_receipt(),
            )
            session.add(roll)
            session.add(ballot)
    except IntegrityError:
        raise AlreadyVoted(
            N_("A vote has already been cast for you (or your household)."), "vote"
        ) from None
    return roll


def check_selection(session: Session, vote: Vote, selection: Iterable[str]) -> list[str]:
    """The option codes chosen, sorted, or the rule they break (the confirmation page
    checks them before the voter confirms, the cast checks them again)."""
    if vote_state(vote) != "open":
        raise GovernanceError(N_("This vote is not open."), "vote")
    chosen = sorted({str(s) for s in selection if s})
    codes = {o.code for o in vote_options(session, vote.id)}
    if vote.kind == "election" and (not chosen or not set(chosen) <= codes):
        raise GovernanceError(N_("Choose at least one candidate."), "choice")
    if not chosen or not set(chosen) <= codes:
        raise GovernanceError(N_("Choose one option: in favour, against or abstain."), "choice")
    if vote.kind == "motion" and len(chosen) != 1:
        raise GovernanceError(N_("Choose one option: in favour, against or abstain."), "choice")
    if vote.kind == "election" and len(chosen) > vote.seats:
        raise GovernanceError(N_("Choose at most %(n)s candidates."), "choice", n=vote.seats)
    return chosen


#: Receipt codes: no 0/O, 1/I/L, so a voter can read one out on the phone.
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_receipt() -> str:
    """A random receipt code, ``XXXXX-XXXXX`` (about 50 bits): it identifies a roll row,
    never a ballot, so it reveals nothing of a secret choice."""
    pick = secrets.choice
    return "-".join("".join(pick(RECEIPT_ALPHABET) for _ in range(5)) for _ in range(2))


def normalise_receipt(code: str) -> str:
    """What the voter typed, as stored: upper case, the hyphen where it belongs."""
    raw = "".join(c for c in (code or "").upper() if c.isalnum())
    return f"{raw[:5]}-{raw[5:10]}" if len(raw) == 10 else raw[:16]


def my_roll_row(session: Session, vote: Vote, person_id: int | None) -> VoterRoll | None:
    """The roll row of this resident's own ballot (not a household member's)."""
    if person_id is None:
        return None
    return session.scalar(
        select(VoterRoll).where(VoterRoll.vote_id == vote.id, VoterRoll.person_id == person_id)
    )


def check_receipt(session: Session, vote: Vote, code: str) -> dict[str, Any] | None:
    """What a receipt proves, or None when no ballot of this vote has it: the ballot is
    on the roll (cast at ``voted_at``) and, once counted, that the count holds as many
    ballots as the roll has names (``counted``). Never the choice, and never the voter."""
    receipt = normalise_receipt(code)
    if len(receipt) != 11:
        return None
    row = session.scalar(
        select(VoterRoll).where(VoterRoll.vote_id == vote.id, VoterRoll.receipt == receipt)
    )
    if row is None:
        return None
    result = vote.result or {}
    return {
        "receipt": receipt,
        "voted_at": row.voted_at,
        "closed": vote.closed_at is not None,
        "counted": vote.closed_at is not None and bool(result.get("consistent")),
        "turnout": result.get("turnout"),
    }


def voter_status(
    session: Session, kernel: Any, vote: Vote, person_id: int | None
) -> dict[str, Any]:
    """What the resident's page says: may they vote, have they (or their household)."""
    elig = eligibility(session, kernel, vote, person_id)
    mine = my_roll_row(session, vote, person_id)
    return {
        "eligible": elig.key is not None,
        "reason": elig.reason,
        "voted": has_voted(session, vote, elig.key),
        "receipt": mine.receipt if mine is not None else None,
    }


def tally(session: Session, vote: Vote, electorate: dict[str, Any]) -> dict[str, Any]:
    """The result, recomputed from the stored plain ballots (never from a running
    counter). A secret vote has plain ballots only once :func:`close_vote` opened the
    sealed box."""
    options = vote_options(session, vote.id)
    counts = {o.code: 0 for o in options}
    exact = {o.code: Decimal(0) for o in options}  # area sums in exact decimals
    turnout, area_sum = 0, Decimal(0)
    for selection, weight in session.execute(
        select(Ballot.selection, Ballot.weight).where(Ballot.vote_id == vote.id)
    ):
        turnout += 1
        area_sum += Decimal(str(weight or 0))
        for code in selection.split(","):
            if code in counts:
                counts[code] += 1
                exact[code] += Decimal(str(weight or 0))
    weights = {code: float(v) for code, v in exact.items()}
    area_turnout = float(area_sum)
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
    assembly = vote.electorate == "owner_unit"
    area: dict[str, Any] = {}
    if assembly:
        area = {"area_total": float(area_total or 0), "area_turnout": area_turnout}
        result["area_available"] = bool(area_total)
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
            electorate=size,
            turnout=turnout,
            yes=0,
            quorum=vote.quorum,
            pass_rule=vote.pass_rule,
            **({**area, "area_yes": 0.0} if area else {}),
        )[0]

        def wins(code: str) -> bool:
            if not _passes(vote.pass_rule, counts[code], turnout):
                return False
            return not assembly or _passes(
                vote.pass_rule, Fraction(str(weights[code])), Fraction(str(area_turnout))
            )

        ranked = sorted(options, key=lambda o: (-counts[o.code], -weights[o.code], o.position))
        winners = [o for o in ranked if quorum_met and wins(o.code)]
        elected = winners[: vote.seats]
        tie = len(winners) > vote.seats and (
            counts[winners[vote.seats].code],
            weights[winners[vote.seats].code],
        ) == (counts[elected[-1].code], weights[elected[-1].code])
        if tie:  # a tie at the last seat: those tied are not elected; a new round decides
            cut = (counts[elected[-1].code], weights[elected[-1].code])
            elected = [o for o in elected if (counts[o.code], weights[o.code]) > cut]
        result.update(
            quorum_met=quorum_met, passed=bool(elected), tie=tie, elected=[o.label for o in elected]
        )
    if assembly:
        result["assembly"] = assembly_figures(
            vote, options, counts, weights, size=size, turnout=turnout,
            area_total=float(area_total or 0), area_turnout=area_turnout,
            quorum_met=bool(result["quorum_met"]), passed=bool(result["passed"]),
        )
    return result


def _pct(part: float | int, whole: float | int) -> float:
    if not whole:
        return 0.0
    return float(round(Fraction(str(part)) * 100 / Fraction(str(whole)), 2))


def assembly_figures(
    vote: Vote,
    options: list[VoteOption],
    counts: dict[str, int],
    weights: dict[str, float],
    *,
    size: int,
    turnout: int,
    area_total: float,
    area_turnout: float,
    quorum_met: bool,
    passed: bool,
) -> dict[str, Any]:
    """An owners' assembly's result as Civil Code art. 278 reads it: participation by
    area and by head against the two-thirds quorum, and each choice's share of the
    participating area and owners against the matter's threshold (percentages rounded
    for display; the decision itself is taken in exact fractions by :func:`decide`)."""
    threshold = MATTERS.get(vote.matter or "", vote.pass_rule)
    return {
        "matter": vote.matter,
        "item": MATTER_ITEMS.get(vote.matter or ""),
        "threshold": threshold,
        "rule": "Civil Code art. 278; SPC interpretation 法释〔2009〕7号 arts. 8-9",
        "owners_total": size,
        "owners_participating": turnout,
        "area_total": area_total,
        "area_participating": area_turnout,
        "participation_owners_pct": _pct(turnout, size),
        "participation_area_pct": _pct(area_turnout, area_total),
        "quorum_met": quorum_met,
        "passed": passed,
        "choices": [
            {
                "code": o.code,
                "label": o.label,
                "owners": counts[o.code],
                "area": round(weights[o.code], 2),
                "owners_pct": _pct(counts[o.code], turnout),
                "area_pct": _pct(weights[o.code], area_turnout),
            }
            for o in options
        ],
    }
