"""marshmallow schemas: the API's input and output, and the events' payloads."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from core.toolkit import JsonBoolean

_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_CONTROL_LINE = r"\x00-\x1f\x7f"
TEXT = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"
LINE = rf"^[^{_CONTROL_LINE}]*[^\s{_CONTROL_LINE}][^{_CONTROL_LINE}]*$"
ANY_TEXT = rf"^[^{_CONTROL}]*$"  # may be empty; no control characters


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
        validate=[validate.Length(1, 200), validate.Regexp(LINE, error="Enter a title.")],
    )
    body = fields.String(
        load_default="",
        validate=[validate.Length(0, 10000), validate.Regexp(ANY_TEXT, error="Enter text.")],
    )
    community = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^\d{12}$")
    )
    pinned = JsonBoolean(load_default=False)
    expires_at = fields.AwareDateTime(load_default=None, allow_none=True)


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
        validate=[validate.Length(1, 200), validate.Regexp(LINE, error="Enter a title.")],
    )
    body = fields.String(
        required=True,
        validate=[validate.Length(1, 5000), validate.Regexp(TEXT, error="Enter text.")],
    )


class SgAnswerIn(Schema):
    answer = fields.String(
        required=True, validate=validate.OneOf(["accepted", "rejected", "needs_study"])
    )
    reason = fields.String(
        required=True,
        validate=[validate.Length(1, 5000), validate.Regexp(TEXT, error="Enter text.")],
    )
