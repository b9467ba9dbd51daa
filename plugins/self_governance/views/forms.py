"""The plugin's forms, one per action, and the labels they show. Apart from the views so a
page module reads as its routes only."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange, Optional

from core.toolkit import MAX_ID, Length

MARKUP_HINT = _l("**bold**, *italic*, [link](https://...), @name to mention someone")


def _choices(pairs: list[tuple[str, Any]]) -> list[Any]:
    """SelectField choices in the form wtforms 3.3 wants (tuples are deprecated)."""
    return [SelectChoice(value, label) for value, label in pairs]


#: The matters of Civil Code art. 278, as the committee reads them (the threshold in
#: brackets; services.votes.MATTERS holds the rule).
MATTER_LABELS = {
    "rules_of_procedure": _l("(1) Rules of procedure of the owners' assembly (> 1/2)"),
    "management_rules": _l("(2) Management rules (> 1/2)"),
    "committee": _l("(3) Electing or replacing the owners' committee (> 1/2)"),
    "property_manager": _l("(4) Hiring or dismissing the property manager (> 1/2)"),
    "fund_use": _l("(5) Using the maintenance fund (> 1/2)"),
    "fund_raise": _l("(6) Raising the maintenance fund (at least 3/4)"),
    "rebuild": _l("(7) Rebuilding or reconstructing the buildings (at least 3/4)"),
    "common_use": _l("(8) Changing the use of common parts, or business use (at least 3/4)"),
    "other_major": _l("(9) Other major matters of common ownership (> 1/2)"),
}

#: Moderation actions as the moderator reads them (also the log's labels).
MOD_ACTION_LABELS = {
    "hide": _l("Hide"),
    "restore": _l("Restore"),
    "lock": _l("Lock"),
    "unlock": _l("Unlock"),
    "move": _l("Move to another board"),
    "dismiss": _l("Dismiss the reports"),
    "auto_hide": _l("Hidden after reports"),
    "mute": _l("Mute"),
}


class ActionForm(FlaskForm):
    """A button: CSRF only."""


class NoticeForm(FlaskForm):
    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Title: enter the notice's title.")), Length(max=200)],
    )
    body = TextAreaField(_l("Text"), validators=[Length(max=10000)])
    community = SelectField(
        _l("Community"),
        validate_choice=False,  # checked against the member's communities in the view
    )
    building = SelectField(
        _l("Only for one building (optional)"),
        validate_choice=False,
        description=_l("Leave it on the whole community to tell everyone there."),
    )
    pinned = BooleanField(_l("Pin to the top"))
    expires_at = DateTimeLocalField(
        _l("Expires (optional)"),
        validators=[Optional()],
        format="%Y-%m-%dT%H:%M",
        description=_l("Local date and time; after it the notice is no longer shown."),
    )
    attachment_url = StringField(
        _l("Attachment link (optional)"),
        validators=[Optional(), Length(max=300)],
        description=_l("A web link, such as https://example.org/notice.pdf"),
    )


class QuestionForm(FlaskForm):
    text = TextAreaField(
        _l("Your question"),
        validators=[
            DataRequired(_l("Your question: write what you want to know about the statement.")),
            Length(max=2000),
        ],
    )


class AnswerQuestionForm(FlaskForm):
    answer = TextAreaField(
        _l("Answer"),
        validators=[
            DataRequired(_l("Answer: write the answer to the question.")),
            Length(max=5000),
        ],
    )


class StatementForm(FlaskForm):
    community = SelectField(_l("Community"), validate_choice=False)
    period = StringField(
        _l("Period (YYYY-MM)"),
        validators=[
            DataRequired(_l("Period: enter the month as YYYY-MM, such as 2026-10.")),
            Length(7, 7, _l("Period: enter the month as YYYY-MM, such as 2026-10.")),
        ],
    )
    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Title: enter the statement's title, such as October 2026 finances.")),
            Length(max=200),
        ],
    )
    items = TextAreaField(
        _l("Lines: income or expense | description | amount | voucher, one per line"),
        validators=[DataRequired(_l("Lines: write at least one line of income or expense."))],
    )


class ProposalForm(FlaskForm):
    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Title: say in a few words what you propose.")),
            Length(max=200),
        ],
    )
    body = TextAreaField(
        _l("What do you propose, and why?"),
        validators=[
            DataRequired(_l("What do you propose, and why: describe it for your neighbours.")),
            Length(max=5000),
        ],
    )


class AnswerForm(FlaskForm):
    answer = SelectField(
        _l("Answer"),
        choices=_choices(
            [
                ("accepted", _l("Accepted")),
                ("rejected", _l("Rejected")),
                ("needs_study", _l("Needs study")),
            ]
        ),
    )
    reason = TextAreaField(
        _l("Reasons"),
        validators=[
            DataRequired(_l("Reasons: explain the answer; the resident reads them.")),
            Length(max=5000),
        ],
    )


class ProgressForm(FlaskForm):
    status = SelectField(
        _l("Implementation"),
        choices=_choices(
            [
                ("not_started", _l("Not started")),
                ("in_progress", _l("In progress")),
                ("done", _l("Done")),
            ]
        ),
    )
    note = TextAreaField(_l("Progress note"), validators=[Length(max=2000)])


class VoteForm(FlaskForm):
    title = StringField(
        _l("Title"),
        validators=[
            DataRequired(_l("Title: enter the question put to the vote.")),
            Length(max=200),
        ],
    )
    description = TextAreaField(_l("Description"), validators=[Length(max=5000)])
    community = SelectField(_l("Community"), validate_choice=False)
    kind = SelectField(
        _l("Kind"),
        choices=_choices(
            [("motion", _l("Motion (in favour / against)")), ("election", _l("Election"))]
        ),
    )
    electorate = SelectField(
        _l("Who votes"),
        choices=_choices(
            [
                ("adult", _l("Every resident aged 18 or over")),
                ("household", _l("One vote per household")),
                ("group_rep", _l("Residents' group representatives")),
                ("owner_unit", _l("Owners' assembly: owners by area and by head")),
            ]
        ),
    )
    matter = SelectField(
        _l("Matter (owners' assembly, Civil Code art. 278)"),
        choices=_choices([("", _l("Not an owners' assembly")), *MATTER_LABELS.items()]),
        default="",
    )
    quorum = SelectField(
        _l("Quorum"),
        choices=_choices(
            [
                ("half", _l("More than half of the electorate")),
                ("two_thirds", _l("At least two-thirds of the electorate")),
                ("none", _l("No quorum")),
            ]
        ),
    )
    pass_rule = SelectField(
        _l("Passes with"),
        choices=_choices(
            [
                ("half", _l("More than half of votes cast")),
                ("two_thirds", _l("At least two-thirds of votes cast")),
                ("three_quarters", _l("At least three-quarters of votes cast")),
            ]
        ),
    )
    secret = BooleanField(_l("Secret ballot"), default=True)
    candidates = TextAreaField(_l("Candidates, one per line (elections)"))
    seats = IntegerField(
        _l("Seats (elections)"), default=1, validators=[Optional(), NumberRange(1, 50)]
    )
    opens_at = DateTimeLocalField(
        _l("Opens"),
        format="%Y-%m-%dT%H:%M",
        description=_l(
            "Local time. Now opens it at once; to check the electorate "
            "before it opens, choose a later time."
        ),
        validators=[DataRequired(_l("Opens: enter a date and time, such as 2026-12-07 08:00."))],
    )
    closes_at = DateTimeLocalField(
        _l("Closes"),
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(_l("Closes: enter a date and time, such as 2026-12-14 20:00."))],
    )


class ThreadForm(FlaskForm):
    title = StringField(
        _l("Title"),
        validators=[DataRequired(_l("Title: enter the thread's title.")), Length(max=200)],
    )
    body = TextAreaField(
        _l("Text"), validators=[DataRequired(_l("Text: write your post.")), Length(max=5000)]
    )


class ReplyForm(FlaskForm):
    body = TextAreaField(
        _l("Reply"), validators=[DataRequired(_l("Reply: write your reply.")), Length(max=5000)]
    )


class ReportForm(FlaskForm):
    reason = StringField(_l("Why should a moderator look at this?"), validators=[Length(max=200)])


REASON_HINT = _l("The author is told this reason.")


class PostModerateForm(FlaskForm):
    """A moderator's action on one post, from the post itself."""

    action = SelectField(
        _l("Action"),
        choices=_choices([(a, MOD_ACTION_LABELS[a]) for a in ("hide", "restore", "dismiss")]),
    )
    reason = StringField(
        _l("Reason"),
        description=REASON_HINT,
        validators=[
            DataRequired(_l("Reason: write why, in a few words; the author reads it.")),
            Length(max=200),
        ],
    )


class ThreadModerateForm(FlaskForm):
    """A moderator's action on a whole thread, from the thread itself."""

    action = SelectField(
        _l("Action"),
        choices=_choices(
            [(a, MOD_ACTION_LABELS[a]) for a in ("lock", "unlock", "hide", "restore", "move")]
        ),
    )
    board = SelectField(_l("Board (to move the thread to)"), validate_choice=False)
    reason = StringField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Reason: write why, in a few words; it is logged.")),
            Length(max=200),
        ],
    )


class MuteForm(FlaskForm):
    days = IntegerField(
        _l("Days"),
        default=7,
        validators=[
            DataRequired(_l("Days: enter a whole number from 1 to 365.")),
            NumberRange(1, 365, _l("Days: enter a whole number from 1 to 365.")),
        ],
    )
    reason = StringField(
        _l("Reason"),
        description=REASON_HINT,
        validators=[
            DataRequired(_l("Reason: write why, in a few words; the author reads it.")),
            Length(max=200),
        ],
    )


class RoundForm(FlaskForm):
    """Open the yearly democratic evaluation (the page for ``shequ self-governance
    evaluation``)."""

    community = SelectField(_l("Community"), validate_choice=False)
    year = IntegerField(
        _l("Year"),
        validators=[
            DataRequired(_l("Year: enter the year evaluated, such as 2026.")),
            NumberRange(2000, 2100, _l("Year: enter the year evaluated, such as 2026.")),
        ],
    )
    days = IntegerField(
        _l("Days it stays open"),
        default=30,
        validators=[
            DataRequired(_l("Days it stays open: enter a whole number from 1 to 90.")),
            NumberRange(1, 90, _l("Days it stays open: enter a whole number from 1 to 90.")),
        ],
    )
    members = TextAreaField(
        _l("Committee members to rate"),
        description=_l("One per line: name | post, such as Liu Min | Director."),
        validators=[
            DataRequired(
                _l("Committee members to rate: write at least one, name | post, one per line.")
            )
        ],
    )


class RepForm(FlaskForm):
    """Name a residents' group representative, picked from the search results."""

    person_id = IntegerField(validators=[DataRequired(), NumberRange(1, MAX_ID)])
    group_name = StringField(
        _l("Residents' group"),
        validators=[
            DataRequired(_l("Residents' group: enter the group's name, such as Group 3.")),
            Length(max=60),
        ],
    )
