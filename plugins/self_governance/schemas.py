"""marshmallow schemas: the API's input and output, and the events' payloads."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import LINE, OPT_TEXT, TEXT, Id, JsonBoolean, Pattern
from plugins.self_governance.services.finances import PERIOD

# ----------------------------------------------------------------------------- events


class ProposalAnsweredEvent(Schema):
    """Payload of ``self_governance.proposal.answered``."""

    proposal_id = fields.Integer(required=True)
    community = fields.String(required=True)
    answer = fields.String(required=True)


class VoteClosedEvent(Schema):
    """Payload of ``self_governance.vote.closed``."""

    vote_id = fields.Integer(required=True)
    community = fields.String(required=True)
    passed = fields.Boolean(required=True)
    quorum_met = fields.Boolean(required=True)
    turnout = fields.Integer(required=True)
    electorate = fields.Integer(required=True)


class PostHiddenEvent(Schema):
    """Payload of ``self_governance.post.hidden``."""

    post_id = fields.Integer(required=True)
    thread_id = fields.Integer(required=True)
    board_id = fields.Integer(required=True, allow_none=True)
    reason = fields.String(required=True)


# ----------------------------------------------------------------------------- API


class SgNotice(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    community = fields.String(allow_none=True)
    pinned = fields.Boolean(required=True)
    category = fields.String(required=True)
    source = fields.String(required=True)
    expires_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(required=True)


class SgNoticeIn(Schema):
    title = fields.String(
        required=True,
        validate=[validate.Length(1, 200), Pattern(LINE, error="Enter a title.")],
    )
    body = fields.String(
        load_default="",
        validate=[validate.Length(0, 10000), Pattern(OPT_TEXT, error="Enter text.")],
    )
    community = fields.String(
        load_default=None, allow_none=True, validate=Pattern(r"^\d{12}$")
    )
    pinned = JsonBoolean(load_default=False)
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True)
    building_id = Id(
        load_default=None, allow_none=True,
        metadata={"description": "One building of the community (its residents only)"},
    )
    attachment_url = fields.String(
        load_default=None, allow_none=True,
        validate=[validate.Length(1, 300), Pattern(r"^(https?://|/(?!/))\S*$")],
    )


class SgOption(Schema):
    code = fields.String(required=True)
    label = fields.String(required=True)


class SgVote(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    community = fields.String(required=True)
    kind = fields.String(required=True)
    electorate = fields.String(required=True)
    quorum = fields.String(required=True)
    pass_rule = fields.String(required=True)
    secret = fields.Boolean(required=True)
    seats = fields.Integer(required=True)
    opens_at = fields.DateTime(required=True)
    closes_at = fields.DateTime(required=True)
    matter = fields.String(
        allow_none=True,
        metadata={"description": "Owners' assembly: the Civil Code art. 278 matter"},
    )
    frozen_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the electorate was frozen"}
    )
    electorate_count = fields.Integer(allow_none=True)
    electorate_area = fields.Float(
        allow_none=True, metadata={"description": "Owners' assembly: total exclusive area"}
    )
    state = fields.String(required=True)
    options = fields.List(fields.Nested(SgOption), required=True)
    me = fields.Dict(allow_none=True)


class SgVoteResult(Schema):
    vote_id = fields.Integer(required=True)
    result = fields.Dict(required=True)


class SgBallotIn(Schema):
    choice = fields.List(
        fields.String(validate=validate.Length(1, 16)),
        required=True,
        validate=validate.Length(1, 50),
    )


class SgProposal(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True)
    community = fields.String(required=True)
    status = fields.String(required=True)
    threshold = fields.Integer(required=True)
    support_count = fields.Integer(required=True)
    deadline = fields.DateTime(allow_none=True)
    answer = fields.String(allow_none=True)
    answer_reason = fields.String(allow_none=True)
    implementation = fields.String(allow_none=True)


class SgProposalIn(Schema):
    title = fields.String(
        required=True,
        validate=[validate.Length(1, 200), Pattern(LINE, error="Enter a title.")],
    )
    body = fields.String(
        required=True,
        validate=[validate.Length(1, 5000), Pattern(TEXT, error="Enter text.")],
    )


class SgAnswerIn(Schema):
    answer = fields.String(
        required=True, validate=validate.OneOf(["accepted", "rejected", "needs_study"])
    )
    reason = fields.String(
        required=True,
        validate=[validate.Length(1, 5000), Pattern(TEXT, error="Enter text.")],
    )


# ----------------------------------------------------------------------------- notices (more)

COMMUNITY = Pattern(r"^\d{12}$", error="A community is its 12-digit code.")


class SgNoticeOne(SgNotice):
    building_id = fields.Integer(allow_none=True)
    attachment_url = fields.String(allow_none=True)
    attachment_name = fields.String(allow_none=True)
    read_count = fields.Integer(required=True)


class SgNoticeArgs(Schema):
    community = fields.String(load_default=None, validate=COMMUNITY)


# ----------------------------------------------------------------------------- finances


class SgLine(Schema):
    kind = fields.String(required=True)
    description = fields.String(required=True)
    amount = fields.Float(required=True)
    voucher = fields.String(allow_none=True)


class SgQuestion(Schema):
    id = fields.Integer(required=True)
    statement_id = fields.Integer(required=True)
    community = fields.String(allow_none=True)
    text = fields.String(required=True)
    asked_at = fields.DateTime(required=True)
    due_on = fields.Date(
        required=True, metadata={"description": "The day the answer is due (app.timezone)"}
    )
    state = fields.String(
        required=True,
        metadata={"description": "on_time | late (answered) · open | overdue (not yet)"},
    )
    answer = fields.String(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)


class SgTotals(Schema):
    income = fields.Float(required=True)
    expense = fields.Float(required=True)
    balance = fields.Float(required=True)


class SgStatement(Schema):
    id = fields.Integer(required=True)
    community = fields.String(required=True)
    period = fields.String(required=True)
    title = fields.String(required=True)
    due_on = fields.Date(allow_none=True)
    published_at = fields.DateTime(required=True)
    on_time = fields.Boolean(required=True)
    totals = fields.Nested(SgTotals, required=True)


class SgStatementOne(SgStatement):
    lines = fields.List(fields.Nested(SgLine), required=True)
    questions = fields.List(fields.Nested(SgQuestion), required=True)


class SgLineIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["income", "expense"]))
    description = fields.String(
        required=True,
        validate=[validate.Length(1, 200), Pattern(LINE, error="Enter text.")],
    )
    amount = fields.Float(
        # Inclusive bounds: the OpenAPI document cannot state an exclusive maximum, so a
        # client reading it would send 1e11 and be refused.
        required=True, validate=validate.Range(0, 99_999_999_999.99), allow_nan=False
    )
    voucher = fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(0, 120), Pattern(OPT_TEXT, error="Enter text.")],
    )


class SgStatementIn(Schema):
    community = fields.String(required=True, validate=COMMUNITY)
    period = fields.String(
        required=True,
        validate=Pattern(PERIOD, error="Give the period as YYYY-MM."),
    )
    title = fields.String(
        required=True,
        validate=[validate.Length(1, 200), Pattern(LINE, error="Enter a title.")],
    )
    items = fields.List(fields.Nested(SgLineIn), required=True, validate=validate.Length(0, 500))


class SgQuestionIn(Schema):
    text = fields.String(
        required=True,
        validate=[validate.Length(1, 2000), Pattern(TEXT, error="Enter text.")],
    )


class SgQuestionAnswerIn(Schema):
    answer = fields.String(
        required=True,
        validate=[validate.Length(1, 5000), Pattern(TEXT, error="Enter text.")],
    )


# ----------------------------------------------------------------------------- proposals


class SgUpdate(Schema):
    status = fields.String(required=True)
    note = fields.String(required=True)
    at = fields.DateTime(required=True)


class SgProposalOne(SgProposal):
    created_at = fields.DateTime(required=True)
    answered_at = fields.DateTime(allow_none=True)
    supported = fields.Boolean(
        allow_none=True, metadata={"description": "Whether the verified caller supports it"}
    )
    timeline = fields.List(fields.Nested(SgUpdate), required=True)


class SgProgressIn(Schema):
    status = fields.String(
        required=True, validate=validate.OneOf(["not_started", "in_progress", "done"])
    )
    note = fields.String(
        load_default="",
        validate=[validate.Length(0, 2000), Pattern(OPT_TEXT, error="Enter text.")],
    )


# ----------------------------------------------------------------------------- votes (admin)


class SgVoteIn(Schema):
    community = fields.String(required=True, validate=COMMUNITY)
    title = fields.String(
        required=True,
        validate=[validate.Length(1, 200), Pattern(LINE, error="Enter a title.")],
    )
    description = fields.String(
        load_default="",
        validate=[validate.Length(0, 5000), Pattern(OPT_TEXT, error="Enter text.")],
    )
    kind = fields.String(load_default="motion", validate=validate.OneOf(["motion", "election"]))
    electorate = fields.String(
        load_default="adult",
        validate=validate.OneOf(["adult", "household", "group_rep", "owner_unit"]),
    )
    quorum = fields.String(
        load_default="half", validate=validate.OneOf(["none", "half", "two_thirds"])
    )
    pass_rule = fields.String(
        load_default="half", validate=validate.OneOf(["half", "two_thirds", "three_quarters"])
    )
    secret = JsonBoolean(load_default=True)
    opens_at = fields.AwareDateTime(required=True)
    closes_at = fields.AwareDateTime(required=True)
    candidates = fields.List(
        fields.String(validate=[validate.Length(1, 120), Pattern(LINE)]),
        load_default=list,
        validate=validate.Length(0, 50),
    )
    seats = fields.Integer(load_default=1, strict=True, validate=validate.Range(1, 50))
    matter = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(
            [
                "rules_of_procedure",
                "management_rules",
                "committee",
                "property_manager",
                "fund_use",
                "fund_raise",
                "rebuild",
                "common_use",
                "other_major",
            ]
        ),
    )


class SgRollRow(Schema):
    person_id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True)
    voted_at = fields.DateTime(required=True)
    public_choice = fields.String(allow_none=True)


class SgElectorateEntry(Schema):
    key = fields.String(required=True)
    kind = fields.String(required=True)
    names = fields.List(fields.String(), required=True)
    dwellings = fields.Integer(required=True)
    weight = fields.Float(required=True)


class SgElectorate(Schema):
    count = fields.Integer(required=True)
    area = fields.Float(allow_none=True)
    frozen_at = fields.DateTime(allow_none=True)
    registry_marker = fields.Integer(allow_none=True)
    entries = fields.List(fields.Nested(SgElectorateEntry), required=True)
    hidden = fields.Integer(required=True)
    page = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    no_area = fields.Integer(required=True)
    unowned = fields.Integer(allow_none=True)


class SgPageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(1, 100000))


class SgReceipt(Schema):
    vote_id = fields.Integer(required=True)
    receipt = fields.String(allow_none=True)
    voted_at = fields.DateTime(required=True)
    public_choice = fields.List(fields.String(), required=True)


class SgReceiptArgs(Schema):
    receipt = fields.String(
        required=True,
        validate=Pattern(
            r"^[A-Za-z0-9]{5}-?[A-Za-z0-9]{5}$", error="Two groups of five letters and digits."
        ),
    )


class SgReceiptCheck(Schema):
    receipt = fields.String(required=True)
    voted_at = fields.DateTime(required=True)
    closed = fields.Boolean(required=True)
    counted = fields.Boolean(required=True)
    turnout = fields.Integer(allow_none=True)


# ----------------------------------------------------------------------------- forum


class SgBoard(Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    threads = fields.Integer(required=True)


class SgThread(Schema):
    id = fields.Integer(required=True)
    board = fields.String(required=True)
    title = fields.String(required=True)
    author = fields.String(allow_none=True, metadata={"description": "The display name"})
    locked = fields.Boolean(required=True)
    hidden = fields.Boolean(required=True)
    created_at = fields.DateTime(required=True)
    last_post_at = fields.DateTime(required=True)


class SgPost(Schema):
    id = fields.Integer(required=True)
    thread_id = fields.Integer(required=True)
    author = fields.String(allow_none=True)
    html = fields.String(
        allow_none=True,
        metadata={"description": "Sanitised rendering; null when hidden (for non-moderators)"},
    )
    hidden = fields.Boolean(required=True)
    hidden_reason = fields.String(allow_none=True)
    pending_review = fields.Boolean(required=True)
    report_count = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class SgThreadOne(SgThread):
    posts = fields.List(fields.Nested(SgPost), required=True)
    following = fields.Boolean(allow_none=True)


class SgThreadIn(Schema):
    title = fields.String(
        required=True,
        validate=[validate.Length(1, 200), Pattern(LINE, error="Enter a title.")],
    )
    body = fields.String(
        required=True,
        validate=[validate.Length(1, 5000), Pattern(TEXT, error="Write something.")],
    )


class SgReplyIn(Schema):
    body = fields.String(
        required=True,
        validate=[validate.Length(1, 5000), Pattern(TEXT, error="Write something.")],
    )


class SgFollow(Schema):
    thread_id = fields.Integer(required=True)
    following = fields.Boolean(required=True)


class SgReportIn(Schema):
    reason = fields.String(
        load_default="",
        validate=[validate.Length(0, 200), Pattern(OPT_TEXT, error="Enter text.")],
    )


class SgReportOut(Schema):
    post_id = fields.Integer(required=True)
    reported = fields.Boolean(required=True)


REASON = fields.String(
    required=True,
    validate=[validate.Length(1, 200), Pattern(LINE, error="Give a reason.")],
)


class SgPostModerateIn(Schema):
    action = fields.String(required=True, validate=validate.OneOf(["hide", "restore", "dismiss"]))
    reason = REASON


class SgThreadModerateIn(Schema):
    action = fields.String(
        required=True, validate=validate.OneOf(["lock", "unlock", "hide", "restore", "move"])
    )
    reason = REASON
    board = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(1, 40),
        metadata={"description": "The board's slug, for move"},
    )


class SgMuteIn(Schema):
    days = fields.Integer(required=True, strict=True, validate=validate.Range(1, 365))
    reason = REASON


class SgMute(Schema):
    until = fields.DateTime(required=True)
    reason = fields.String(required=True)


class SgQueuePost(SgPost):
    thread_title = fields.String(allow_none=True)


class SgQueue(Schema):
    posts = fields.List(fields.Nested(SgQueuePost), required=True)
    pending = fields.Integer(required=True)
    reported = fields.Integer(required=True)


class SgModLog(Schema):
    id = fields.Integer(required=True)
    moderator_id = fields.Integer(allow_none=True)
    action = fields.String(required=True)
    target_type = fields.String(required=True)
    target_id = fields.Integer(required=True)
    reason = fields.String(required=True)
    at = fields.DateTime(required=True)


# ----------------------------------------------------------------------------- evaluation


class SgMember(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    post = fields.String(required=True)


class SgMemberResult(Schema):
    member = fields.String(required=True)
    post = fields.String(required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    total = fields.Integer(required=True)
    competent_pct = fields.Float(required=True)


class SgRound(Schema):
    id = fields.Integer(required=True)
    community = fields.String(required=True)
    year = fields.Integer(required=True)
    closes_at = fields.DateTime(required=True)
    closed = fields.Boolean(required=True)
    members = fields.List(fields.Nested(SgMember), required=True)
    rated = fields.Boolean(
        allow_none=True, metadata={"description": "Whether the verified caller took part"}
    )
    results = fields.List(
        fields.Nested(SgMemberResult),
        allow_none=True,
        metadata={"description": "Aggregates only, after the close; null before"},
    )


class SgMemberIn(Schema):
    name = fields.String(
        required=True,
        validate=[validate.Length(1, 50), Pattern(LINE, error="Enter a name.")],
    )
    post = fields.String(
        load_default="",
        validate=[validate.Length(0, 50), Pattern(OPT_TEXT, error="Enter text.")],
    )


class SgRoundIn(Schema):
    community = fields.String(required=True, validate=COMMUNITY)
    year = fields.Integer(required=True, strict=True, validate=validate.Range(2000, 2100))
    days = fields.Integer(load_default=30, strict=True, validate=validate.Range(1, 90))
    members = fields.List(
        fields.Nested(SgMemberIn), required=True, validate=validate.Length(1, 50)
    )


class SgGradeIn(Schema):
    member_id = Id(required=True)
    grade = fields.String(
        required=True, validate=validate.OneOf(["competent", "basic", "incompetent"])
    )


class SgRatingIn(Schema):
    ratings = fields.List(fields.Nested(SgGradeIn), required=True, validate=validate.Length(1, 50))


class SgGroupRep(Schema):
    id = fields.Integer(required=True)
    community = fields.String(required=True)
    person_id = fields.Integer(required=True)
    name = fields.String(required=True, metadata={"description": "As the reader shows it"})
    group_name = fields.String(required=True)


class SgCommunityArgs(Schema):
    community = fields.String(required=True, validate=COMMUNITY)


class SgCandidateArgs(SgCommunityArgs):
    q = fields.String(
        required=True, validate=[validate.Length(1, 50), Pattern(LINE, error="Enter text.")]
    )


class SgCandidate(Schema):
    person_id = fields.Integer(required=True)
    name = fields.String(required=True, metadata={"description": "As the reader shows it"})
    grid_name = fields.String(allow_none=True)


class SgGroupRepIn(Schema):
    community = fields.String(required=True, validate=COMMUNITY)
    person_id = Id(required=True)
    group_name = fields.String(
        required=True,
        validate=[validate.Length(1, 60), Pattern(LINE, error="Enter the group's name.")],
    )


# ----------------------------------------------------------------------------- record


class SgSupervision(Schema):
    proposals_due = fields.Integer(required=True)
    proposals_answered = fields.Integer(required=True)
    accepted = fields.Integer(required=True)
    implemented = fields.Integer(required=True)
    statements = fields.Integer(required=True)
    statements_on_time = fields.Integer(required=True)
    questions_open = fields.Integer(required=True)
    evaluations = fields.List(fields.Nested(SgRound), required=True)


class SgMonth(Schema):
    month = fields.String(required=True, metadata={"description": "YYYY-MM, app.timezone"})
    posts = fields.Integer(required=True)
    proposals = fields.Integer(required=True)


class SgTurnout(Schema):
    vote_id = fields.Integer(required=True)
    title = fields.String(required=True)
    community = fields.String(required=True)
    closes_at = fields.DateTime(required=True)
    turnout = fields.Integer(required=True)
    electorate = fields.Integer(required=True)
    turnout_pct = fields.Float(required=True)


class SgTimeliness(Schema):
    on_time = fields.Integer(required=True)
    late = fields.Integer(required=True)
    open = fields.Integer(required=True)
    overdue = fields.Integer(required=True)


class SgStatistics(Schema):
    community = fields.String(allow_none=True)
    participation = fields.List(fields.Nested(SgMonth), required=True)
    turnout = fields.List(fields.Nested(SgTurnout), required=True)
    questions = fields.Nested(SgTimeliness, required=True)


class SgStatisticsArgs(Schema):
    community = fields.String(load_default=None, validate=COMMUNITY)
