"""The rules of residents' self-governance: plain functions over a session, no Flask.

They flush but never commit; the caller (a request, a command, an event handler, the demo
seeder) owns the transaction, and events are published in it (the outbox). Every rule
violation raises :class:`GovernanceError` (a :class:`~core.toolkit.RuleError`) naming the
field, which a page shows beside the field and the API returns in core's error shape.

Votes follow docs/requirements.md, domain §5 (Organic Law of Urban Residents' Committees
art. 9, Civil Code art. 278); see :func:`decide` for the exact arithmetic and
:func:`eligibility` for who may vote in each electorate mode.

One module per seam, each with its own reason to change: :mod:`.common` (the error, the
plugin's registry reads), :mod:`.notices`, :mod:`.finances` (statements and questions),
:mod:`.proposals`, :mod:`.electorates` (who votes), :mod:`.votes` (making, casting,
counting), :mod:`.ballots` (the box and the close), :mod:`.scrubbing` (cleaning the files
after a box is opened), :mod:`.forum` (and moderation), :mod:`.evaluation` and
:mod:`.supervision`. Callers import from here (``from plugins.self_governance import
services as sv``), never from a seam, so the seams may move.
"""

from __future__ import annotations

from core.toolkit import MAX_ID, N_
from plugins.self_governance.services.ballots import (
    BoxError,
    ballots_in_box,
    close_due_votes,
    close_vote,
)
from plugins.self_governance.services.common import (
    PLUGIN,
    AlreadyVoted,
    GovernanceError,
    acts_for,
    aware,
    community_names,
    member_communities,
    person_community,
    reader,
)
from plugins.self_governance.services.electorates import (
    ADULT_AGE,
    ELECTORATES,
    ROLL_KEY_KINDS,
    Eligibility,
    Entry,
    compute_electorate,
    electorate_preview,
    electorate_size,
    eligibility,
    ensure_frozen,
    find_residents,
    freeze_electorate,
    freeze_open_votes,
    group_reps,
    name_group_rep,
    remove_group_rep,
    set_group_rep,
    vote_roll,
)
from plugins.self_governance.services.evaluation import (
    GRADES,
    create_round,
    evaluation_results,
    has_rated,
    open_due_rounds,
    submit_ratings,
)
from plugins.self_governance.services.finances import (
    DISCLOSURE_DAY,
    answer_question,
    ask_question,
    disclosure_due,
    publish_statement,
    statement_totals,
    unanswered_questions,
)
from plugins.self_governance.services.forum import (
    MAX_MENTIONS,
    MOD_ACTIONS,
    active_mute,
    ensure_default_boards,
    follow_thread,
    moderate,
    moderation_queue,
    mute_user,
    reply,
    report_post,
    start_thread,
)
from plugins.self_governance.services.notices import (
    community_buildings,
    lives_in,
    mark_read,
    notice_from_event,
    on_public_alert,
    on_public_works_completed,
    publish_notice,
    read_counts,
    visible_notices,
)
from plugins.self_governance.services.proposals import (
    ANSWERS,
    IMPLEMENTATION,
    answer_proposal,
    create_proposal,
    expire_proposals,
    proposal_timeline,
    submit_proposal,
    support_proposal,
    update_implementation,
)
from plugins.self_governance.services.scrubbing import (
    scrub_after_close,
)
from plugins.self_governance.services.supervision import (
    supervision,
)
from plugins.self_governance.services.votes import (
    MATTER_ITEMS,
    MATTERS,
    PASS_RULES,
    QUORUMS,
    cast_ballot,
    check_receipt,
    check_selection,
    create_vote,
    decide,
    has_voted,
    my_roll_row,
    normalise_receipt,
    open_vote_now,
    tally,
    vote_options,
    vote_state,
    voter_status,
)

__all__ = [
    "ADULT_AGE",
    "ANSWERS",
    "DISCLOSURE_DAY",
    "ELECTORATES",
    "GRADES",
    "IMPLEMENTATION",
    "MATTERS",
    "MATTER_ITEMS",
    "MAX_ID",
    "MAX_MENTIONS",
    "MOD_ACTIONS",
    "N_",
    "PASS_RULES",
    "PLUGIN",
    "QUORUMS",
    "ROLL_KEY_KINDS",
    "AlreadyVoted",
    "BoxError",
    "Eligibility",
    "Entry",
    "GovernanceError",
    "active_mute",
    "acts_for",
    "answer_proposal",
    "answer_question",
    "ask_question",
    "aware",
    "ballots_in_box",
    "cast_ballot",
    "check_receipt",
    "check_selection",
    "close_due_votes",
    "close_vote",
    "community_buildings",
    "community_names",
    "compute_electorate",
    "create_proposal",
    "create_round",
    "create_vote",
    "decide",
    "disclosure_due",
    "electorate_preview",
    "electorate_size",
    "eligibility",
    "ensure_default_boards",
    "ensure_frozen",
    "evaluation_results",
    "expire_proposals",
    "find_residents",
    "follow_thread",
    "freeze_electorate",
    "freeze_open_votes",
    "group_reps",
    "has_rated",
    "has_voted",
    "lives_in",
    "mark_read",
    "member_communities",
    "moderate",
    "moderation_queue",
    "mute_user",
    "my_roll_row",
    "name_group_rep",
    "normalise_receipt",
    "notice_from_event",
    "on_public_alert",
    "on_public_works_completed",
    "open_due_rounds",
    "open_vote_now",
    "person_community",
    "proposal_timeline",
    "publish_notice",
    "publish_statement",
    "read_counts",
    "reader",
    "remove_group_rep",
    "reply",
    "report_post",
    "scrub_after_close",
    "set_group_rep",
    "start_thread",
    "statement_totals",
    "submit_proposal",
    "submit_ratings",
    "supervision",
    "support_proposal",
    "tally",
    "unanswered_questions",
    "update_implementation",
    "visible_notices",
    "vote_options",
    "vote_roll",
    "vote_state",
    "voter_status",
]
