"""Tables of the self-governance plugin (all prefixed ``self_governance_``).

The voting tables are the delicate part. A vote keeps two tables that share nothing but
the vote id:

* :class:`VoterRoll` — *who* voted (one row per voter key, unique per vote: the database,
  not the application, guarantees one ballot per person, household, group representative
  or dwelling, even under concurrent requests);
* :class:`SealedBallot` — while a secret vote is open, *what* was chosen, encrypted
  (AES-GCM) under a key derived from the app's secret key and the vote id: the key is
  never in the database, so a copy of the database files (WAL included) shows only that
  each roll row came with an opaque box of the same size;
* :class:`Ballot` — *what* was chosen, in plain, with no voter reference, no timestamp
  and no sequential id (the primary key is random and, on SQLite, the table has no
  rowid). For a secret vote the ballots are written only at the close, all in one
  transaction, in random order, and the sealed boxes deleted in it — so nothing in the
  files links a plain ballot to a roll row. For open ballots the roll keeps the public
  choice (which is what "open" means) and the ballot is written at once.

Democratic evaluation repeats the pattern (:class:`EvaluationRoll` /
:class:`SealedRating` / :class:`Rating`). The threat model is in
docs/plugins/self_governance.md ("Secrecy against the database files").
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.toolkit import Base, UTCDateTime, utcnow

P = "self_governance_"


def random_key() -> str:
    """A random primary key: it carries no order, unlike a sequence or a timestamp."""
    return secrets.token_hex(16)


# ----------------------------------------------------------------------------- notices


class Notice(Base):
    """A public notice (居务公开). ``community`` None: every community; ``building_id``
    narrows it to one building. ``source_key`` makes notices posted from other plugins'
    events idempotent (a redelivered event finds its notice already there)."""

    __tablename__ = P + "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    community: Mapped[str | None] = mapped_column(String(12), index=True)
    building_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(16), default="affairs")
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attachment_url: Mapped[str | None] = mapped_column(String(300))
    attachment_name: Mapped[str | None] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(40), default="committee")
    source_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class NoticeRead(Base):
    __tablename__ = P + "notice_read"
    __table_args__ = (UniqueConstraint("notice_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(
        ForeignKey(P + "notice.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Statement(Base):
    """A financial statement for one period (财务公开): line items, questions."""

    __tablename__ = P + "statement"
    __table_args__ = (UniqueConstraint("community", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community: Mapped[str] = mapped_column(String(12))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    title: Mapped[str] = mapped_column(String(200))
    due_on: Mapped[date | None] = mapped_column(Date)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )


class LineItem(Base):
    __tablename__ = P + "line_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(
        ForeignKey(P + "statement.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(8))  # income | expense
    description: Mapped[str] = mapped_column(String(200))
    amount: Mapped[float] = mapped_column(Numeric(14, 2, asdecimal=False))
    voucher: Mapped[str | None] = mapped_column(String(120))


class Question(Base):
    """A resident's question about a statement; the committee must answer it by
    ``due_on``."""

    __tablename__ = P + "question"

    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(
        ForeignKey(P + "statement.id", ondelete="CASCADE"), index=True
    )
    asker_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    text: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The day (in ``app.timezone``) the answer is due: ``question_answer_days`` working
    #: days after the asking, fixed when asked (NULL for questions asked before).
    due_on: Mapped[date | None] = mapped_column(Date)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# ----------------------------------------------------------------------------- proposals


class Proposal(Base):
    """draft → collecting → agenda → answered (accepted | rejected | needs_study);
    collecting → expired when the deadline passes without enough support."""

    __tablename__ = P + "proposal"

    id: Mapped[int] = mapped_column(primary_key=True)
    community: Mapped[str] = mapped_column(String(12), index=True)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    threshold: Mapped[int] = mapped_column(Integer, default=10)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    support_count: Mapped[int] = mapped_column(Integer, default=0)
    answer: Mapped[str | None] = mapped_column(String(16))
    answer_reason: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    implementation: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Support(Base):
    """One verified resident's support (keyed by registry person: one person, one
    support, whatever accounts they hold)."""

    __tablename__ = P + "support"
    __table_args__ = (UniqueConstraint("proposal_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey(P + "proposal.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProposalUpdate(Base):
    """The public timeline of a proposal: agenda, answer, implementation progress."""

    __tablename__ = P + "proposal_update"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey(P + "proposal.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int | None] = mapped_column(ForeignKey("identity_user.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# ----------------------------------------------------------------------------- votes


class Vote(Base):
    __tablename__ = P + "vote"

    id: Mapped[int] = mapped_column(primary_key=True)
    community: Mapped[str] = mapped_column(String(12), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(12), default="motion")  # motion | election
    electorate: Mapped[str] = mapped_column(String(16))
    quorum: Mapped[str] = mapped_column(String(16), default="half")
    pass_rule: Mapped[str] = mapped_column(String(16), default="half")
    secret: Mapped[bool] = mapped_column(Boolean, default=True)
    seats: Mapped[int] = mapped_column(Integer, default=1)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[dict | None] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Owners' assembly only: the Civil Code art. 278 matter (``services.votes.MATTERS``),
    #: which decides the pass threshold.
    matter: Mapped[str | None] = mapped_column(String(24))
    #: When the electorate was frozen (:class:`ElectorateEntry`), the registry state it
    #: came from (the newest ``registry_change`` id then) and its size and total area.
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    registry_marker: Mapped[int | None] = mapped_column(Integer)
    electorate_count: Mapped[int | None] = mapped_column(Integer)
    electorate_area: Mapped[float | None] = mapped_column(Numeric(14, 2, asdecimal=False))


class ElectorateEntry(Base):
    """The frozen electorate of a vote: who may cast for which voter key, written once
    when the vote opens and never changed after, so later moves, deaths or sales in the
    registry do not move it. One row per (voter key, person who may cast for it); a key
    with nobody able to cast (an organisation owner without a representative) has one
    row with ``person_id`` None. ``weight`` is the key's exclusive area in an owners'
    assembly (1 otherwise), repeated on each of the key's rows."""

    __tablename__ = P + "electorate"

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey(P + "vote.id", ondelete="CASCADE"), index=True)
    voter_key: Mapped[str] = mapped_column(String(24))
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    #: The dwellings behind the key (owners' assembly, household), comma-separated ids.
    dwellings: Mapped[str] = mapped_column(String(200), default="")
    weight: Mapped[float] = mapped_column(Numeric(12, 2, asdecimal=False), default=1)


class VoteOption(Base):
    __tablename__ = P + "vote_option"

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey(P + "vote.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(16))  # yes | no | abstain | c<n>
    label: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)


class VoterRoll(Base):
    """Who voted. The unique (vote, voter key) pair is the one-ballot guarantee."""

    __tablename__ = P + "voter_roll"
    __table_args__ = (UniqueConstraint("vote_id", "voter_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vote_id: Mapped[int] = mapped_column(ForeignKey(P + "vote.id", ondelete="CASCADE"))
    voter_key: Mapped[str] = mapped_column(String(24))
    person_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("identity_user.id", ondelete="SET NULL"))
    voted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Open ballots only: the public record of the choice. Always NULL when secret.
    public_choice: Mapped[str | None] = mapped_column(String(200))
    #: The code shown to the voter after casting (``services.votes.new_receipt``): with it
    #: they check that their ballot is on the roll and counted. Random, so it says
    #: nothing of the choice; NULL for rows cast before receipts existed.
    receipt: Mapped[str | None] = mapped_column(String(16), index=True)


class Ballot(Base):
    """What was chosen: no voter, no time, a random key, no rowid on SQLite."""

    __tablename__ = P + "ballot"
    __table_args__ = {"sqlite_with_rowid": False}

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_key)
    vote_id: Mapped[int] = mapped_column(ForeignKey(P + "vote.id", ondelete="CASCADE"), index=True)
    selection: Mapped[str] = mapped_column(String(200))  # option codes, comma-separated
    weight: Mapped[float] = mapped_column(Numeric(12, 2, asdecimal=False), default=1)


class SealedBallot(Base):
    """A secret vote's ballot while the vote is open: ``box`` is nonce + AES-GCM
    ciphertext of the (padded, fixed-size) choice and weight, bound to the vote id.
    Opened, shuffled into :class:`Ballot` and deleted at the close."""

    __tablename__ = P + "sealed_ballot"
    __table_args__ = {"sqlite_with_rowid": False}

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_key)
    vote_id: Mapped[int] = mapped_column(ForeignKey(P + "vote.id", ondelete="CASCADE"), index=True)
    box: Mapped[bytes] = mapped_column(LargeBinary)


class GroupRep(Base):
    """A residents' group representative (居民小组代表), designated by the committee:
    the registry has no such notion, so the plugin keeps the list (of registry persons)."""

    __tablename__ = P + "group_rep"
    __table_args__ = (UniqueConstraint("community", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community: Mapped[str] = mapped_column(String(12))
    person_id: Mapped[int] = mapped_column(Integer)
    group_name: Mapped[str] = mapped_column(String(60), default="")


# ----------------------------------------------------------------------------- forum


class Board(Base):
    __tablename__ = P + "board"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(String(300), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Thread(Base):
    __tablename__ = P + "thread"

    id: Mapped[int] = mapped_column(primary_key=True)
    board_id: Mapped[int] = mapped_column(ForeignKey(P + "board.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(200))
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_post_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Post(Base):
    """``body`` is what the author typed; ``html`` is the sanitised rendering (the only
    thing a template ever marks safe)."""

    __tablename__ = P + "post"

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey(P + "thread.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL"), index=True
    )
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_reason: Mapped[str | None] = mapped_column(String(200))
    pending_review: Mapped[bool] = mapped_column(Boolean, default=False)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Report(Base):
    __tablename__ = P + "report"
    __table_args__ = (UniqueConstraint("post_id", "reporter_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey(P + "post.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(200), default="")
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Follow(Base):
    __tablename__ = P + "follow"
    __table_args__ = (UniqueConstraint("thread_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey(P + "thread.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"))


class Mention(Base):
    __tablename__ = P + "mention"
    __table_args__ = (UniqueConstraint("post_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey(P + "post.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("identity_user.id", ondelete="CASCADE"), index=True
    )


class Mute(Base):
    __tablename__ = P + "mute"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("identity_user.id", ondelete="CASCADE"), index=True
    )
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(200))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("identity_user.id", ondelete="SET NULL"))


class ModerationLog(Base):
    __tablename__ = P + "moderation_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    moderator_id: Mapped[int | None] = mapped_column(
        ForeignKey("identity_user.id", ondelete="SET NULL")
    )
    action: Mapped[str] = mapped_column(String(16))
    target_type: Mapped[str] = mapped_column(String(8))
    target_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# ----------------------------------------------------------------------------- evaluation


class EvaluationRound(Base):
    """A yearly democratic evaluation (民主评议) of the committee members."""

    __tablename__ = P + "evaluation_round"
    __table_args__ = (UniqueConstraint("community", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    community: Mapped[str] = mapped_column(String(12))
    year: Mapped[int] = mapped_column(Integer)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvaluationMember(Base):
    __tablename__ = P + "evaluation_member"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(
        ForeignKey(P + "evaluation_round.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(50))
    post: Mapped[str] = mapped_column(String(50), default="")


class EvaluationRoll(Base):
    __tablename__ = P + "evaluation_roll"
    __table_args__ = (UniqueConstraint("round_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey(P + "evaluation_round.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(Integer)


class SealedRating(Base):
    """One resident's rating sheet while the round is open, sealed like
    :class:`SealedBallot`; opened into :class:`Rating` rows after the round closes."""

    __tablename__ = P + "sealed_rating"
    __table_args__ = {"sqlite_with_rowid": False}

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_key)
    round_id: Mapped[int] = mapped_column(
        ForeignKey(P + "evaluation_round.id", ondelete="CASCADE"), index=True
    )
    box: Mapped[bytes] = mapped_column(LargeBinary)


class Rating(Base):
    """An anonymous rating: no rater, no time, random key (like :class:`Ballot`)."""

    __tablename__ = P + "rating"
    __table_args__ = {"sqlite_with_rowid": False}

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_key)
    member_id: Mapped[int] = mapped_column(
        ForeignKey(P + "evaluation_member.id", ondelete="CASCADE"), index=True
    )
    grade: Mapped[str] = mapped_column(String(16))  # competent | basic | incompetent
