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
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from core.toolkit import (
    MAX_ID,
)
from plugins.self_governance import services as sv

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
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Text"), validators=[Length(max=10000)])
    community = StringField(
        _l("Community code (empty: every community)"),
        validators=[Optional(), Length(min=12, max=12)],
    )
    building = IntegerField(
        _l("Only for one building (building number, optional)"),
        validators=[Optional(), NumberRange(1, MAX_ID)],
    )
    pinned = BooleanField(_l("Pin to the top"))
    expires_at = DateTimeLocalField(
        _l("Expires (optional)"), validators=[Optional()], format="%Y-%m-%dT%H:%M"
    )
    attachment_url = StringField(
        _l("Attachment link (optional)"), validators=[Optional(), Length(max=300)]
    )


class QuestionForm(FlaskForm):
    text = TextAreaField(_l("Your question"), validators=[DataRequired(), Length(max=2000)])


class AnswerQuestionForm(FlaskForm):
    answer = TextAreaField(_l("Answer"), validators=[DataRequired(), Length(max=5000)])


class StatementForm(FlaskForm):
    community = StringField(_l("Community code"), validators=[DataRequired(), Length(12, 12)])
    period = StringField(_l("Period (YYYY-MM)"), validators=[DataRequired(), Length(7, 7)])
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    items = TextAreaField(
        _l("Lines: income or expense | description | amount | voucher, one per line"),
        validators=[DataRequired()],
    )


class ProposalForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(
        _l("What do you propose, and why?"), validators=[DataRequired(), Length(max=5000)]
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
    reason = TextAreaField(_l("Reasons"), validators=[DataRequired(), Length(max=5000)])


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
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    description = TextAreaField(_l("Description"), validators=[Length(max=5000)])
    community = StringField(_l("Community code"), validators=[DataRequired(), Length(12, 12)])
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
        _l("Opens (UTC)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    closes_at = DateTimeLocalField(
        _l("Closes (UTC)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )


class ThreadForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Text"), validators=[DataRequired(), Length(max=5000)])


class ReplyForm(FlaskForm):
    body = TextAreaField(_l("Reply"), validators=[DataRequired(), Length(max=5000)])


class ReportForm(FlaskForm):
    reason = StringField(_l("Why should a moderator look at this?"), validators=[Length(max=200)])


class ModerateForm(FlaskForm):
    action = SelectField(
        _l("Action"), choices=_choices([(a, MOD_ACTION_LABELS[a]) for a in sv.MOD_ACTIONS])
    )
    target = SelectField(
        _l("Target"), choices=_choices([("post", _l("A post")), ("thread", _l("A thread"))])
    )
    target_id = IntegerField(_l("Id"), validators=[DataRequired(), NumberRange(1, MAX_ID)])
    board = StringField(_l("Move to board (slug)"), validators=[Optional(), Length(max=40)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])


class MuteForm(FlaskForm):
    user_id = IntegerField(_l("Account id"), validators=[DataRequired(), NumberRange(1, MAX_ID)])
    days = IntegerField(_l("Days"), default=7, validators=[DataRequired(), NumberRange(1, 365)])
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])
