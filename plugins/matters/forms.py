"""The pages' forms (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Optional, Regexp

from core.toolkit import Length


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


class DepartmentForm(FlaskForm):
    """A new department or community office."""

    code = StringField(_l("Department code"), description=_l(
        "Lower-case letters, digits, - and _, starting with a letter; it cannot be "
        "changed later."), validators=[
        DataRequired(message=_l("Enter a code.")), Length(max=40),
        Regexp(r"^[a-z][a-z0-9_-]*$", message=_l(
            "Use lower-case letters, digits, - and _ for the code, starting with a letter."))])
    name = StringField(_l("Name (Chinese)"), validators=[
        DataRequired(message=_l("Enter the department's name.")), Length(max=100)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=100)])
    kind = SelectField(_l("Kind of office"), choices=[
        ("department", _l("A department of the street or district")),
        ("community", _l("A community office (residents' committee)"))],
        validators=[DataRequired(message=_l("Choose the kind of office."))])
    community = SelectField(_l("Community it serves (community offices only)"),
                            validators=[Optional()])


class RenameForm(FlaskForm):
    name = StringField(_l("Name (Chinese)"), validators=[
        DataRequired(message=_l("Enter the department's name.")), Length(max=100)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=100)])


class RouteEditForm(FlaskForm):
    """A routing rule's department and answer limit (its category and place stay)."""

    department = SelectField(_l("Department or community office"), validators=[
        DataRequired(message=_l("Choose a department."))])
    answer_days = StringField(_l("Working days to answer"), description=_l(
        "Leave empty for the default of the category."), validators=[
        Optional(), Regexp(r"^\d{1,2}$", message=_l(
            "Give between 1 and 60 working days."))])


class RouteForm(RouteEditForm):
    """A routing rule: what, where, to whom, within how many working days."""

    category = SelectField(_l("What the matters are about"), validators=[
        DataRequired(message=_l("Choose what the matter is about."))])
    place = SelectField(_l("Where"), validators=[Optional()])


class ActionForm(FlaskForm):
    """A button that only needs the CSRF token (sign for a matter)."""
