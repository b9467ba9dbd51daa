"""Who may call each self_governance endpoint: merged into the permission matrix
(tests/core/test_permission_matrix.py; the vocabulary is in core/testing_matrix.py).

Reading is public (disclosure of residents' affairs, finances, proposals and results is
the point); acting as a resident needs a verified account (none of the matrix's accounts
is verified, so every signed-in role gets 403); committee work needs the committee's
permissions (committee_member, and admin who holds every permission)."""

from core.testing_matrix import LOGIN, PUBLIC, E, ok, only

COMMITTEE = only("committee_member", "admin")
VERIFIED = only()  # require_verified: no matrix account is bound to a registry person
PERSONAL = only()  # require_personal (ballot, rating): verified, never in the assisted channel
MISSING = ok(404)  # the sample ids below belong to nothing

_P = "self_governance."
_A = "self_governance_api."

MATRIX = {
    (_P + "index", "GET"): E(PUBLIC),
    (_P + "notices", "GET"): E(PUBLIC),
    (_P + "notice", "GET"): E(PUBLIC, MISSING),
    (_P + "notice_new", "GET"): E(COMMITTEE),
    (_P + "notice_new", "POST"): E(COMMITTEE, ok(400)),
    (_P + "finances", "GET"): E(PUBLIC),
    (_P + "statement", "GET"): E(PUBLIC, MISSING),
    (_P + "ask", "POST"): E(VERIFIED),
    (_P + "answer_question", "POST"): E(COMMITTEE, MISSING),
    (_P + "statement_new", "GET"): E(COMMITTEE),
    (_P + "statement_new", "POST"): E(COMMITTEE, ok(400)),
    (_P + "proposals", "GET"): E(PUBLIC),
    (_P + "proposal_new", "GET"): E(VERIFIED),
    (_P + "proposal_new", "POST"): E(VERIFIED),
    (_P + "proposal", "GET"): E(PUBLIC, MISSING),
    (_P + "support", "POST"): E(VERIFIED),
    (_P + "proposal_answer", "POST"): E(COMMITTEE, MISSING),
    (_P + "proposal_progress", "POST"): E(COMMITTEE, MISSING),
    (_P + "votes", "GET"): E(PUBLIC),
    (_P + "vote", "GET"): E(PUBLIC, MISSING),
    (_P + "ballot", "POST"): E(PERSONAL),
    (_P + "vote_receipt", "GET"): E(PERSONAL),
    (_P + "vote_check", "GET"): E(PUBLIC, MISSING),
    (_P + "vote_close", "POST"): E(COMMITTEE, MISSING),
    (_P + "vote_roll", "GET"): E(COMMITTEE, MISSING),
    (_P + "vote_electorate", "GET"): E(COMMITTEE, MISSING),
    (_P + "vote_open", "POST"): E(COMMITTEE, MISSING),
    (_P + "vote_new", "GET"): E(COMMITTEE),
    (_P + "vote_new", "POST"): E(COMMITTEE, ok(400)),
    (_P + "forum", "GET"): E(PUBLIC),
    (_P + "board", "GET"): E(PUBLIC, MISSING),
    (_P + "thread_new", "POST"): E(LOGIN, MISSING),
    (_P + "thread", "GET"): E(PUBLIC, MISSING),
    (_P + "thread_reply", "POST"): E(LOGIN, MISSING),
    (_P + "thread_follow", "POST"): E(LOGIN, MISSING),
    (_P + "post_report", "POST"): E(LOGIN, MISSING),
    (_P + "moderation", "GET"): E(COMMITTEE),
    (_P + "post_moderate", "POST"): E(COMMITTEE, MISSING),
    (_P + "thread_moderate", "POST"): E(COMMITTEE, MISSING),
    (_P + "post_mute", "POST"): E(COMMITTEE, MISSING),
    (_P + "evaluation", "GET"): E(PUBLIC),
    (_P + "rate", "POST"): E(PERSONAL),
    (_P + "supervision", "GET"): E(PUBLIC),
    (_P + "committee", "GET"): E(COMMITTEE),
    (_P + "round_new", "GET"): E(COMMITTEE),
    (_P + "round_new", "POST"): E(COMMITTEE, ok(400)),
    (_P + "group_reps", "GET"): E(COMMITTEE),
    (_P + "group_reps", "POST"): E(COMMITTEE, ok(200, 400)),
    (_P + "group_rep_remove", "POST"): E(COMMITTEE, MISSING),
    # ---------------------------------------------------------------- API
    (_A + "Notices", "GET"): E(PUBLIC),
    (_A + "Notices", "POST"): E(COMMITTEE, ok(422)),
    (_A + "Proposals", "GET"): E(PUBLIC),
    (_A + "Proposals", "POST"): E(VERIFIED),
    (_A + "ProposalSupport", "POST"): E(VERIFIED),
    (_A + "ProposalAnswer", "POST"): E(COMMITTEE, ok(422)),
    (_A + "Votes", "GET"): E(PUBLIC),
    (_A + "VoteOne", "GET"): E(PUBLIC, MISSING),
    (_A + "VoteBallot", "POST"): E(PERSONAL),
    (_A + "VoteResult", "GET"): E(PUBLIC, MISSING),
}

PUBLIC_VIEWS = {
    _P + "index": "the community-affairs start page: public notices and what is open",
    _P + "notices": "notices are public disclosure (居务公开)",
    _P + "notice": "a public notice (signed-in readers are counted)",
    _P + "finances": "financial disclosure is public (财务公开)",
    _P + "statement": "a public financial statement with residents' questions and answers",
    _P + "proposals": "proposals and official answers are public (accountability)",
    _P + "proposal": "a public proposal with its timeline",
    _P + "votes": "votes and their results after the close are public",
    _P + "vote": "a vote's rules, and its result after the close, are public",
    _P + "vote_check": "a receipt proves a ballot is on the roll, never who cast it or how",
    _P + "forum": "the residents' forum is readable by all; posting needs an account",
    _P + "board": "a forum board is readable by all",
    _P + "thread": "a forum thread is readable by all (hidden posts stay hidden)",
    _P + "evaluation": "democratic evaluation results are published (aggregates only)",
    _P + "supervision": "the committee's record is public (self-supervision)",
    _A + "Notices": "public notices (GET); publishing needs the committee permission",
    _A + "Proposals": "public proposals (GET); proposing needs a verified resident",
    _A + "Votes": "the list of votes is public",
    _A + "VoteOne": "a vote's rules are public",
    _A + "VoteResult": "results after the close are public",
}

SAMPLE_VALUES: dict[str, object] = {
    "notice_id": 987001,
    "statement_id": 987002,
    "question_id": 987003,
    "proposal_id": 987004,
    "vote_id": 987005,
    "board_slug": "no-such-board",
    "thread_id": 987006,
    "post_id": 987007,
    "round_id": 987008,
    "rep_id": 987009,
}
