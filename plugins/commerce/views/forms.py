"""The pages' forms. They check shape only (lengths, choices); every rule is in
``services``, whose errors are put beside the field they name."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from core.toolkit import Length


class TicketForm(FlaskForm):
    category = SelectField(
        _l("What do you need?"), validators=[DataRequired(message=_l("Choose a service category"))]
    )
    description = TextAreaField(
        _l("Describe the need"),
        validators=[DataRequired(message=_l("Describe what you need")), Length(max=2000)],
    )
    service_address = StringField(
        _l("Address for the service"), validators=[Optional(), Length(max=300)]
    )
    contact_phone = StringField(
        _l("Phone for the merchant to call"), validators=[Optional(), Length(max=30)]
    )
    public_area = BooleanField(_l("This is in a public area (e.g. a common corridor)"))


class HotlineTicketForm(TicketForm):
    """A registry caller: address and phone only when they differ from the registered
    ones (what is typed is kept as the caller's own copy)."""

    person_id = HiddenField()
    service_address = StringField(
        _l("Address for the service, if not the registered address"),
        validators=[Optional(), Length(max=300)],
    )
    contact_phone = StringField(
        _l("Another phone for the merchant to call"), validators=[Optional(), Length(max=30)]
    )


class UnregisteredCallerForm(TicketForm):
    """A caller the registry does not know: what they tell the hotline is kept as their
    own copy (masked, shown in full only to the merchant holding the ticket open, erased
    after the retention period)."""

    unregistered = HiddenField(default="1")
    caller_name = StringField(
        _l("Caller's name"),
        validators=[DataRequired(message=_l("Ask the caller for their name")), Length(max=50)],
    )
    contact_phone = StringField(
        _l("Caller's phone number"),
        validators=[DataRequired(message=_l("Type the caller's number")), Length(max=30)],
    )
    service_address = StringField(
        _l("Address for the service"),
        validators=[DataRequired(message=_l("Confirm the address")), Length(max=300)],
    )
    community = SelectField(
        _l("Community"), validators=[DataRequired(message=_l("Choose the caller's community"))]
    )


class CallbackForm(TicketForm):
    """The operator completes a one-key call: address and phone only if not the
    registered ones."""

    service_address = StringField(
        _l("Address for the service, if not the registered address"),
        validators=[Optional(), Length(max=300)],
    )
    contact_phone = StringField(
        _l("Another phone for the merchant to call"), validators=[Optional(), Length(max=30)]
    )


class LookupForm(FlaskForm):
    phone = StringField(
        _l("Caller's phone number"),
        validators=[DataRequired(message=_l("Type the caller's number")), Length(max=30)],
    )


class RateForm(FlaskForm):
    rating = RadioField(
        _l("How satisfied are you?"),
        choices=[
            ("5", _l("5 — very satisfied")),
            ("4", _l("4 — satisfied")),
            ("3", _l("3 — neutral")),
            ("2", _l("2 — dissatisfied")),
            ("1", _l("1 — very dissatisfied")),
        ],
        validators=[InputRequired(message=_l("Choose a rating"))],
    )
    comment = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=500)])


class ComplaintForm(FlaskForm):
    text = TextAreaField(
        _l("What went wrong?"),
        validators=[DataRequired(message=_l("Say what went wrong")), Length(max=1000)],
    )


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"), validators=[DataRequired(message=_l("Give a reason")), Length(max=500)]
    )


class DispatchForm(FlaskForm):
    merchant_id = SelectField(_l("Merchant"), validators=[Optional()])


class PortalForm(FlaskForm):
    action = HiddenField(validators=[DataRequired(message=_l("Choose what to do."))])
    final_price = DecimalField(
        _l("Final price (yuan)"), places=2,
        validators=[Optional(), NumberRange(
            min=0, max=1000000,
            message=_l("Enter the final price in yuan, from 0 to 1,000,000, for example 80.50."))],
    )
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])


class ApplyForm(FlaskForm):
    credit_code = StringField(
        _l("Unified social credit code"),
        validators=[DataRequired(message=_l("Enter the credit code")), Length(min=18, max=18)],
    )
    name = StringField(
        _l("Shop name"),
        validators=[DataRequired(message=_l("Enter the shop name")), Length(max=100)],
    )
    categories = SelectMultipleField(
        _l("Services offered"), validators=[DataRequired(message=_l("Choose at least one service"))]
    )
    communities = SelectMultipleField(
        _l("Communities served"),
        validators=[DataRequired(message=_l("Choose at least one community"))],
    )
    opening_hours = StringField(_l("Opening hours"), validators=[Optional(), Length(max=200)])
    price_list = TextAreaField(_l("Price list"), validators=[Optional(), Length(max=2000)])
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=30)])


class DecisionForm(FlaskForm):
    action = RadioField(_l("Decision"), validators=[InputRequired(message=_l("Choose a decision"))])
    reason = TextAreaField(
        _l("Reason"), validators=[DataRequired(message=_l("Give a reason")), Length(max=500)]
    )
