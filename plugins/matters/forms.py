"""The pages' forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp


class FileForm(FlaskForm):
    category = SelectField(_l("What is it about?"), validators=[
        DataRequired(message=_l("Choose what the matter is about."))])
    summary = TextAreaField(_l("The matter"), validators=[
        DataRequired(message=_l("Say what the matter is.")), Length(max=2000)])
    location = StringField(_l("Where (street, building, landmark)"),
                           validators=[Optional(), Length(max=200)])
    community = SelectField(_l("Community"), validators=[Optional()])
    caller_name = StringField(_l("Your name"), validators=[Optional(), Length(max=50)])
    caller_phone = StringField(_l("Phone for the answer"), validators=[
        Optional(), Length(max=30),
        Regexp(r"^[0-9+\- ]*$", message=_l("Enter a phone number."))])


class ConsoleForm(FileForm):
    person_id = HiddenField()


class TransferForm(FlaskForm):
    department = SelectField(_l("To department"),
                             validators=[DataRequired(message=_l("Choose another department."))])
    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(message=_l("Say why the matter goes to another department.")),
        Length(max=500)])


class AnswerForm(FlaskForm):
    answer = TextAreaField(_l("Answer to the resident"), validators=[
        DataRequired(message=_l("Write the answer.")), Length(max=4000)])


class RateForm(FlaskForm):
    rating = RadioField(_l("How satisfied are you with the answer?"), validators=[
        DataRequired(message=_l("Choose how satisfied the resident is."))])


class MemberForm(FlaskForm):
    department = SelectField(_l("Department"),
                             validators=[DataRequired(message=_l("Choose a department."))])
    username = StringField(_l("Staff account (username)"), validators=[
        DataRequired(message=_l("Enter a username.")), Length(max=80)])


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token (sign for a matter)."""
