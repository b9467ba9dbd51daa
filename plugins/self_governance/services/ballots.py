"""The ballot box: how many ballots it holds, and the close — a secret vote's sealed box
opened, shuffled and rewritten in the same transaction as the count. Apart from
:mod:`.votes` because this is the part that must keep the secret of the ballot."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from core.toolkit import N_, utcnow
from plugins.self_governance import sealing
from plugins.self_governance.models import (
    Ballot,
    SealedBallot,
    Vote,
    random_key,
)
from plugins.self_governance.services.common import GovernanceError, aware, log
from plugins.self_governance.services.electorates import (
    electorate_size,
    freeze_electorate,
    freeze_open_votes,
)
from plugins.self_governance.services.scrubbing import _scrub_on_commit
from plugins.self_governance.services.votes import tally


def ballots_in_box(session: Session, vote_id: int) -> int:
    """How many ballots the box holds, sealed or plain (the roll must say the same)."""
    sealed = session.scalar(
        select(func.count()).select_from(SealedBallot).where(SealedBallot.vote_id == vote_id)
    )
    plain = session.scalar(
        select(func.count()).select_from(Ballot).where(Ballot.vote_id == vote_id)
    )
    return int(sealed or 0) + int(plain or 0)


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
    if vote.frozen_at is None:  # nobody cast or looked while it was open: freeze now
        freeze_electorate(session, kernel, vote, now=now)
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

    status = 409


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


def close_due_votes(session: Session, kernel: Any, bus: Any) -> list[int]:
    """Freeze the electorate of every vote that has opened, then count every vote past
    its close (the periodic job, the CLI, and the pages on the way)."""
    freeze_open_votes(session, kernel)
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
