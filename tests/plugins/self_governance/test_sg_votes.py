"""Votes and elections: electorate rules per mode against a generated registry, quorum
and pass rules at their edges, one ballot per voter key (also under 50 concurrent casts
on PostgreSQL), secret-ballot unlinkability, results only after the close."""

from __future__ import annotations

import os
import re
import threading
from datetime import timedelta

import pytest
from self_governance_kit import csrf, resident, sign_in
from sqlalchemy import create_engine, func, inspect, select, text, update
from sqlalchemy.orm import sessionmaker

from core.db import utcnow
from core.events import OutboxEvent
from plugins.self_governance import services as sv
from plugins.self_governance.models import Ballot, GroupRep, SealedBallot, Vote, VoterRoll

PG = bool(os.environ.get("SHEQU_TEST_DATABASE_URL"))


def new_vote(db, world, **kw):
    now = utcnow()
    args = dict(
        community=world.c1,
        title="测试表决",
        electorate="adult",
        quorum="half",
        pass_rule="half",
        secret=True,
        opens_at=now - timedelta(hours=1),
        closes_at=now + timedelta(days=1),
    )
    args.update(kw)
    return sv.create_vote(db, **args)


def end_now(db, vote):
    db.execute(
        update(Vote).where(Vote.id == vote.id).values(closes_at=utcnow() - timedelta(seconds=1))
    )
    db.refresh(vote)


def cast(db, world, vote, person, choice="yes"):
    sv.cast_ballot(db, world.kernel, vote, person_id=person, user_id=None, selection=[choice])


# ----------------------------------------------------------------------------- electorate


@pytest.mark.parametrize("mode, size", [("adult", 6), ("household", 3), ("owner_unit", 0)])
def test_electorate_size_per_mode(app, world, mode, size):
    """C1: 6 active adults (the minor and the one who moved out are not counted); 3
    households with an adult (H1, H2, and the lodger as a household of one; H4 moved out
    entirely); no owners recorded (owners' assemblies: test_sg_owners_assembly.py)."""
    with world.kernel.db.session_scope() as db:
        extra = {"matter": "other_major"} if mode == "owner_unit" else {}
        vote = new_vote(db, world, electorate=mode, **extra)
        assert sv.electorate_size(db, world.kernel, vote)["count"] == size
        db.rollback()


def test_every_adult_mode(app, world):
    i = world.ids
    with world.kernel.db.session_scope() as db:
        vote = new_vote(db, world)
        keys = {
            p: sv.eligibility(db, world.kernel, vote, p).key
            for p in (i.head, i.spouse, i.daughter, i.son, i.mover, i.other, i.lodger)
        }
        assert keys[i.head] == f"p:{i.head}" and keys[i.spouse] == f"p:{i.spouse}"
        assert keys[i.son] is None  # 17
        assert keys[i.mover] is None  # moved out
        assert keys[i.other] is None  # another community
        assert keys[i.lodger] == f"p:{i.lodger}"
        db.rollback()


def test_a_household_votes_once_whichever_adult_votes(app, world):
    i = world.ids
    with world.kernel.db.session_scope() as db:
        vote = new_vote(db, world, electorate="household")
        cast(db, world, vote, i.daughter)  # the 20-year-old daughter casts H1's vote
        for member in (i.head, i.spouse):
            with pytest.raises(sv.AlreadyVoted):
                cast(db, world, vote, member)
        with pytest.raises(sv.GovernanceError):
            cast(db, world, vote, i.son)  # a minor never votes
        cast(db, world, vote, i.h2_wife)
        with pytest.raises(sv.AlreadyVoted):
            cast(db, world, vote, i.h2_head)
        cast(db, world, vote, i.lodger)  # a household of one
        rolled = set(db.scalars(select(VoterRoll.voter_key).where(VoterRoll.vote_id == vote.id)))
        assert rolled == {f"h:{i.h1}", f"h:{i.h2}", f"p:{i.lodger}"}
        assert sv.voter_status(db, world.kernel, vote, i.head)["voted"] is True
        db.rollback()


def test_a_person_who_moved_out_cannot_vote(app, world):
    with world.kernel.db.session_scope() as db:
        for mode in ("adult", "household", "owner_unit"):
            extra = {"matter": "other_major"} if mode == "owner_unit" else {}
            vote = new_vote(db, world, electorate=mode, **extra)
            with pytest.raises(sv.GovernanceError) as err:
                cast(db, world, vote, world.ids.mover)
            assert err.value.field == "vote"
        db.rollback()


def test_owners_assembly_one_vote_per_dwelling(app, world):
    """Owners only, one head per dwelling (its co-owners share it); a tenant who lives
    there is not an owner. Area and head figures: test_sg_owners_assembly.py."""
    from core.registry.models import Dwelling
    from core.registry.ownership import add_owner

    i = world.ids
    with world.kernel.db.session_scope() as db:
        db.get(Dwelling, i.d1).area_m2 = 90
        db.get(Dwelling, i.d2).area_m2 = 60
        add_owner(db, dwelling_id=i.d1, person_id=i.head, share="1/2")
        add_owner(db, dwelling_id=i.d1, person_id=i.spouse, share="1/2")
        add_owner(db, dwelling_id=i.d2, person_id=i.h2_head)
        vote = new_vote(
            db, world, electorate="owner_unit", matter="fund_raise", secret=False
        )
        assert (vote.quorum, vote.pass_rule) == ("two_thirds", "three_quarters")
        cast(db, world, vote, i.head)  # d1
        with pytest.raises(sv.AlreadyVoted):
            cast(db, world, vote, i.spouse)  # also d1
        with pytest.raises(sv.GovernanceError):
            cast(db, world, vote, i.lodger)  # a tenant at d2
        cast(db, world, vote, i.h2_head, "no")  # d2
        end_now(db, vote)
        result = sv.close_vote(db, world.kernel, world.kernel.bus, vote)
        assert result["electorate"] == 2 and result["turnout"] == 2
        assert result["quorum_met"] is True
        assert result["passed"] is False  # 1 of 2 dwellings, 90 of 150 m² < 3/4
        assert result["area_available"] is True
        assert result["assembly"]["participation_area_pct"] == 100.0
        db.rollback()


def test_group_representatives_mode(app, world):
    i = world.ids
    with world.kernel.db.session_scope() as db:
        sv.set_group_rep(db, community=world.c1, person_id=i.head, group_name="第一居民小组")
        sv.set_group_rep(db, community=world.c1, person_id=i.mover, group_name="第二居民小组")
        vote = new_vote(db, world, electorate="group_rep")
        assert sv.electorate_size(db, world.kernel, vote)["count"] == 1  # mover left
        cast(db, world, vote, i.head)
        with pytest.raises(sv.GovernanceError):
            cast(db, world, vote, i.spouse)  # not a representative
        db.rollback()
        assert db.scalar(select(func.count()).select_from(GroupRep)) == 0


def test_eighteenth_birthday_is_the_edge(app, world):
    from self_governance_kit import years_ago

    from core.registry.services import register_person

    with world.kernel.db.session_scope() as db:
        today18 = register_person(
            db,
            {"name": "成年", "birth_date": years_ago(18)},
            bus=world.kernel.bus,
            community=world.c1,
        )
        tomorrow18 = register_person(
            db,
            {"name": "未成年", "birth_date": years_ago(18, -1)},
            bus=world.kernel.bus,
            community=world.c1,
        )
        vote = new_vote(db, world)
        assert sv.eligibility(db, world.kernel, vote, today18.id).key is not None
        assert sv.eligibility(db, world.kernel, vote, tomorrow18.id).key is None
        db.rollback()


# ----------------------------------------------------------------------------- the rules


@pytest.mark.parametrize(
    "electorate, turnout, quorum, met",
    [
        (10, 5, "half", False),  # exactly half is not "more than half"
        (10, 6, "half", True),
        (9, 5, "half", True),
        (9, 6, "two_thirds", True),  # exactly two-thirds is enough
        (9, 5, "two_thirds", False),
        (10, 7, "two_thirds", True),
        (10, 6, "two_thirds", False),
        (10, 0, "none", True),
        (0, 0, "half", False),
    ],
)
def test_quorum_edges(electorate, turnout, quorum, met):
    assert (
        sv.decide(
            electorate=electorate, turnout=turnout, yes=turnout, quorum=quorum, pass_rule="half"
        )[0]
        is met
    )


@pytest.mark.parametrize(
    "turnout, yes, rule, passed",
    [
        (10, 5, "half", False),
        (10, 6, "half", True),
        (9, 6, "two_thirds", True),
        (9, 5, "two_thirds", False),
        (12, 9, "three_quarters", True),
        (12, 8, "three_quarters", False),
        (4, 3, "three_quarters", True),
        (0, 0, "half", False),
    ],
)
def test_pass_rule_edges(turnout, yes, rule, passed):
    assert (
        sv.decide(electorate=turnout, turnout=turnout, yes=yes, quorum="none", pass_rule=rule)[1]
        is passed
    )


def test_double_majority_needs_both_area_and_headcount():
    # headcount 3 of 4 (75%) but area 70 of 100 (< 3/4): not passed
    assert sv.decide(
        electorate=4,
        turnout=4,
        yes=3,
        quorum="two_thirds",
        pass_rule="three_quarters",
        area_total=100,
        area_turnout=100,
        area_yes=70,
    ) == (True, False)
    # area quorum missed: 60 of 100 took part though 3 of 4 owners did
    assert sv.decide(
        electorate=4,
        turnout=3,
        yes=3,
        quorum="two_thirds",
        pass_rule="half",
        area_total=100,
        area_turnout=60,
        area_yes=60,
    ) == (False, False)
    assert sv.decide(
        electorate=4,
        turnout=3,
        yes=2,
        quorum="two_thirds",
        pass_rule="half",
        area_total=100,
        area_turnout=80,
        area_yes=50.5,
    ) == (True, True)


# ----------------------------------------------------------------------------- results


def test_results_only_after_close_recounted_from_ballots(app, world, client):
    i = world.ids
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        vote = new_vote(db, world)
        for p, choice in (
            (i.head, "yes"),
            (i.spouse, "yes"),
            (i.daughter, "no"),
            (i.h2_head, "yes"),
        ):
            cast(db, world, vote, p, choice)
        vote_id = vote.id
        with pytest.raises(sv.GovernanceError):
            sv.close_vote(db, kernel, kernel.bus, vote)  # still open
    resp = client.get(f"/api/v1/self-governance/votes/{vote_id}/result")
    assert resp.status_code == 409 and resp.json["error"]
    page = client.get(f"/self-governance/votes/{vote_id}").get_data(as_text=True)
    assert "turnout" not in page
    with kernel.db.session_scope() as db:
        end_now(db, db.get(Vote, vote_id))
    resp = client.get(f"/api/v1/self-governance/votes/{vote_id}/result")
    assert resp.status_code == 200, resp.json
    result = resp.json["result"]
    assert result["electorate"] == 6 and result["turnout"] == 4
    assert result["quorum_met"] is True  # 4 of 6 > half
    assert result["passed"] is True  # 3 of 4 > half
    assert result["counts"] == {"yes": 3, "no": 1, "abstain": 0}
    assert result["consistent"] is True
    with kernel.db.session_scope() as db:
        vote = db.get(Vote, vote_id)
        again = sv.tally(db, vote, {"count": 6, "area": None})
        assert again["counts"] == result["counts"]  # recomputed from the stored ballots
        closed = db.scalars(
            select(OutboxEvent).where(OutboxEvent.name == "self_governance.vote.closed")
        ).all()
        assert [e.payload["vote_id"] for e in closed].count(vote_id) == 1
        assert sv.close_vote(db, kernel, kernel.bus, vote) == result  # idempotent


def test_election_seats_and_ties(app, world):
    i = world.ids
    with world.kernel.db.session_scope() as db:
        vote = new_vote(
            db, world, kind="election", candidates=["甲", "乙", "丙"], seats=2, secret=False
        )
        assert vote.secret is True  # elections are always secret
        for p, picks in (
            (i.head, ["c1", "c2"]),
            (i.spouse, ["c1", "c2"]),
            (i.daughter, ["c1", "c3"]),
            (i.h2_head, ["c3"]),
        ):
            sv.cast_ballot(db, world.kernel, vote, person_id=p, user_id=None, selection=picks)
        with pytest.raises(sv.GovernanceError):
            sv.cast_ballot(
                db,
                world.kernel,
                vote,
                person_id=i.lodger,
                user_id=None,
                selection=["c1", "c2", "c3"],
            )  # more than the seats
        end_now(db, vote)
        result = sv.close_vote(db, world.kernel, world.kernel.bus, vote)
        # c1: 3 of 4 (elected); c2: 2, c3: 2 — neither more than half of those voting
        assert result["elected"] == ["甲"] and result["passed"] is True
        db.rollback()


def test_vote_page_shows_you_have_voted_and_refuses_a_second(app, world):
    resident(app, "sg_vote_a", world.ids.h2_head)
    resident(app, "sg_vote_b", world.ids.h2_wife)
    with world.kernel.db.session_scope() as db:
        vote_id = new_vote(db, world, electorate="household").id
    a = sign_in(app, "sg_vote_a")
    url = f"/self-governance/votes/{vote_id}"
    assert 'name="choice"' in a.get(url).get_data(as_text=True)
    resp = a.post(f"{url}/ballot", data={"csrf_token": csrf(a, url), "choice": "yes",
                                         "confirmed": "1"})
    assert resp.status_code == 302
    page = a.get(url).get_data(as_text=True)
    assert 'id="voted"' in page and 'name="choice"' not in page
    again = a.post(f"{url}/ballot", data={"csrf_token": csrf(a, url), "choice": "no"})
    assert again.status_code == 409  # refused at the confirmation step already
    again = a.post(f"{url}/ballot", data={"csrf_token": csrf(a, url), "choice": "no",
                                          "confirmed": "1"})
    assert again.status_code == 409
    b = sign_in(app, "sg_vote_b")  # the same household
    assert 'id="voted"' in b.get(url).get_data(as_text=True)
    refused = b.post(f"{url}/ballot", data={"csrf_token": csrf(b, url), "choice": "no"})
    assert refused.status_code == 409
    with world.kernel.db.session_scope() as db:
        assert sv.ballots_in_box(db, vote_id) == 1


# ----------------------------------------------------------------------------- secrecy


def test_secret_ballot_has_no_path_to_the_voter(app, world):
    """The ballot tables reference only the vote; nothing references a ballot; they have
    no time column and no sequence (random key; on SQLite no rowid either); the roll keeps
    no choice for a secret vote; while the vote is open the box holds only sealed ballots
    (no plain one), and the close writes the plain ones with fresh keys."""
    engine = world.kernel.db.engine
    insp = inspect(engine)
    columns = {c["name"] for c in insp.get_columns("self_governance_ballot")}
    assert columns == {"id", "vote_id", "selection", "weight"}
    sealed_cols = {c["name"] for c in insp.get_columns("self_governance_sealed_ballot")}
    assert sealed_cols == {"id", "vote_id", "box"}
    for name in ("self_governance_ballot", "self_governance_sealed_ballot"):
        fks = insp.get_foreign_keys(name)
        assert [(fk["referred_table"], fk["constrained_columns"]) for fk in fks] == [
            ("self_governance_vote", ["vote_id"])
        ]
    for table in insp.get_table_names():
        for fk in insp.get_foreign_keys(table):
            assert fk["referred_table"] not in (
                "self_governance_ballot",
                "self_governance_sealed_ballot",
            ), table
    roll_cols = {c["name"] for c in insp.get_columns("self_governance_voter_roll")}
    assert not roll_cols & {"ballot_id", "selection", "weight"}
    i = world.ids
    with world.kernel.db.session_scope() as db:
        vote = new_vote(db, world)
        for p in (i.head, i.spouse, i.daughter, i.h2_head, i.h2_wife, i.lodger):
            cast(db, world, vote, p, "yes" if p != i.lodger else "no")
        assert (
            db.scalars(select(VoterRoll.public_choice).where(VoterRoll.vote_id == vote.id)).all()
            == [None] * 6
        )
        if engine.dialect.name == "sqlite":
            for table in ("self_governance_ballot", "self_governance_sealed_ballot"):
                with pytest.raises(Exception, match="rowid"):
                    db.execute(text(f"SELECT rowid FROM {table}")).all()
        # nothing plain while open; the sealed boxes have random keys and one size
        assert db.scalar(select(func.count()).where(Ballot.vote_id == vote.id)) == 0
        boxes = db.execute(
            select(SealedBallot.id, SealedBallot.box).where(SealedBallot.vote_id == vote.id)
        ).all()
        keys = [k for k, _ in boxes]
        assert all(len(k) == 32 for k in keys) and len(set(keys)) == 6
        assert len({len(b) for _, b in boxes}) == 1
        # no plaintext inside: neither the JSON choice nor the zero padding. (Two bare
        # letters like b"no" turn up in random ciphertext about once in a hundred runs.)
        assert not any(b'"yes"' in bytes(b) or b'"no"' in bytes(b) or bytes(16) in bytes(b)
                       for _, b in boxes)
        end_now(db, vote)
        sv.close_vote(db, world.kernel, world.kernel.bus, vote)
        after = set(db.scalars(select(Ballot.id).where(Ballot.vote_id == vote.id)))
        assert len(after) == 6 and after.isdisjoint(keys)  # rewritten at the close
        assert db.scalar(select(func.count()).where(SealedBallot.vote_id == vote.id)) == 0
        if engine.dialect.name == "postgresql":
            physical = db.scalars(
                text("SELECT id FROM self_governance_ballot WHERE vote_id = :v ORDER BY ctid"),
                {"v": vote.id},
            ).all()
            assert physical == sorted(physical)  # physical order = random-key order
        db.rollback()


def test_open_ballot_records_the_choice_on_the_roll(app, world):
    with world.kernel.db.session_scope() as db:
        vote = new_vote(db, world, secret=False)
        cast(db, world, vote, world.ids.head, "no")
        assert (
            db.scalar(select(VoterRoll.public_choice).where(VoterRoll.vote_id == vote.id)) == "no"
        )
        db.rollback()


# ----------------------------------------------------------------------------- concurrency


@pytest.mark.skipif(
    not PG,
    reason="SQLite serialises writers: concurrency is proven on "
    "PostgreSQL (set SHEQU_TEST_DATABASE_URL)",
)
def test_fifty_concurrent_ballots_for_one_voter_key_count_once(app, world):
    kernel = world.kernel
    with kernel.db.session_scope() as db:
        vote_id = new_vote(db, world, electorate="household").id
    # the whole of household H1 and then some: all race for the key h:<H1>
    voters = [world.ids.head, world.ids.spouse, world.ids.daughter] * 17
    voters = voters[:50]
    barrier = threading.Barrier(len(voters))
    outcomes: list[str] = []
    lock = threading.Lock()

    # Our own engine with a connection per thread (the app's pool is sized for requests).
    engine = create_engine(
        kernel.db.engine.url.render_as_string(hide_password=False),
        pool_size=len(voters),
        max_overflow=0,
    )
    Session = sessionmaker(engine, expire_on_commit=False)

    def attempt(person_id: int) -> None:
        session = Session()
        try:
            vote = session.get(Vote, vote_id)
            barrier.wait(timeout=30)
            sv.cast_ballot(
                session, kernel, vote, person_id=person_id, user_id=None, selection=["yes"]
            )
            session.commit()
            outcome = "ok"
        except sv.AlreadyVoted:
            session.rollback()
            outcome = "refused"
        except Exception as exc:
            session.rollback()
            outcome = f"error: {type(exc).__name__}"
        finally:
            session.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=attempt, args=(p,)) for p in voters]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    engine.dispose()
    assert outcomes.count("ok") == 1, outcomes
    assert set(outcomes) == {"ok", "refused"}, outcomes
    assert len(outcomes) == 50
    with kernel.db.session_scope() as db:
        assert (
            db.scalar(
                select(func.count()).select_from(VoterRoll).where(VoterRoll.vote_id == vote_id)
            )
            == 1
        )
        assert sv.ballots_in_box(db, vote_id) == 1


def bearer(app, username: str) -> dict[str, str]:
    from core.identity.models import User
    from core.identity.services import create_token, resolve_permissions

    kernel = app.extensions["shequ"]
    with kernel.db.session_scope() as db:
        u = db.scalar(select(User).where(User.username == username))
        _, tok = create_token(
            db,
            u,
            name="t",
            permissions=None,
            expires_days=None,
            granted=set(resolve_permissions(u.role_names, kernel.roles)),
        )
    return {"Authorization": f"Bearer {tok}"}


def test_a_narrowed_token_votes_only_when_given_the_ballot_permission(app, world, client):
    """Finding 3's ballot part: a resident token narrowed to something else cannot cast a
    ballot; one narrowed to ``self_governance.vote.cast`` can."""
    from core.identity.models import User
    from core.identity.services import create_token, resolve_permissions

    resident(app, "sg_narrow_voter", world.ids.lodger)
    with world.kernel.db.session_scope() as db:
        vote_id = new_vote(db, world).id
        u = db.scalar(select(User).where(User.username == "sg_narrow_voter"))
        granted = set(resolve_permissions(u.role_names, world.kernel.roles))
        tokens = {
            name: create_token(
                db, u, name=name, permissions=perms, expires_days=None, granted=granted
            )[1]
            for name, perms in (
                ("other", ["identity.own.profile"]),
                ("cast", ["self_governance.vote.cast"]),
            )
        }
    url = f"/api/v1/self-governance/votes/{vote_id}/ballot"

    def post(name):
        return client.post(
            url, json={"choice": ["yes"]}, headers={"Authorization": f"Bearer {tokens[name]}"}
        )

    assert post("other").status_code == 403
    assert post("cast").status_code == 201


def test_ballot_api_one_per_key_and_errors(app, world, client):
    resident(app, "sg_api_voter", world.ids.spouse)
    resident(app, "sg_api_unverified", None)
    with world.kernel.db.session_scope() as db:
        vote_id = new_vote(db, world).id
    url = f"/api/v1/self-governance/votes/{vote_id}"
    voter = bearer(app, "sg_api_voter")
    assert client.post(f"{url}/ballot", json={"choice": ["yes"]}).status_code == 401
    unverified = bearer(app, "sg_api_unverified")
    assert (
        client.post(f"{url}/ballot", json={"choice": ["yes"]}, headers=unverified).status_code
        == 403
    )
    bad = client.post(f"{url}/ballot", json={"choice": ["maybe"]}, headers=voter)
    assert bad.status_code == 409  # well-formed, but not one of this vote's options
    assert client.post(f"{url}/ballot", json={"choice": "yes"}, headers=voter).status_code == 422
    before = client.get(url, headers=voter).json
    assert before["me"] == {"eligible": True, "reason": "", "voted": False, "receipt": None}
    first = client.post(f"{url}/ballot", json={"choice": ["yes"]}, headers=voter)
    assert first.status_code == 201, first.json
    assert first.json["me"]["voted"] is True
    assert re.fullmatch(r"[2-9A-Z]{5}-[2-9A-Z]{5}", first.json["me"]["receipt"])
    again = client.post(f"{url}/ballot", json={"choice": ["no"]}, headers=voter)
    assert again.status_code == 409 and again.json["error"]
    assert client.get(f"{url}/result").status_code == 409
    assert (
        client.post(
            "/api/v1/self-governance/votes/999999/ballot", json={"choice": ["yes"]}, headers=voter
        ).status_code
        == 404
    )
