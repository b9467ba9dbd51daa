"""Form helpers every area's pages share (identity's account pages, the registry's, the
exchange's, every plugin's through the toolkit): select options for the installed WTForms,
the tick-box field, the ``printable`` check for text typed or pasted into a form, and
:class:`Length`, whose message names its field.

They live in the web layer so that an area's pages need not import another area's views
to get them (``core.identity.admin_views`` re-exports them under their old names).
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectMultipleField, TextAreaField
from wtforms import validators as wtf_validators
from wtforms.validators import ValidationError

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) pairs
    SelectChoice = None

__all__ = ["CheckboxesField", "Length", "choices", "label_name", "length_message", "printable"]

#: A label's closing aside — "(optional)", "(YYYY-MM)", "（选填）" — and a question's mark.
_ASIDE = re.compile(r"\s*(?:[(（][^()（）]*[)）])?\s*[?？:：]?\s*$")


def choices(pairs: Any) -> list[Any]:
    """Select options for this WTForms version (3.3 deprecates plain pairs)."""
    return [SelectChoice(v, lbl) if SelectChoice else (v, lbl) for v, lbl in pairs]


def printable(form: Any, field: Any) -> None:
    """No control characters (NUL cannot even be stored); new lines only where a text
    area allows several lines."""
    allowed = "\n\r\t" if isinstance(field, TextAreaField) else ""
    if any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in field.data or ""):
        raise ValidationError(_l("Remove the invisible control characters"))


class CheckboxesField(SelectMultipleField):
    """Tick boxes (rendered by the template); only offered values are accepted."""


def length_message(label: Any, min: int = -1, max: int = -1) -> str:
    """"<Label>: at most N characters." in the reader's language: the field's translated
    label's name and one translated pattern per kind of limit, so every form says it alike."""
    if max == -1:
        pattern = _("%(label)s: at least %(min)d characters.")
    elif min in (-1, 0):
        pattern = _("%(label)s: at most %(max)d characters.")
    elif min == max:
        pattern = _("%(label)s: exactly %(max)d characters.")
    else:
        pattern = _("%(label)s: %(min)d to %(max)d characters.")
    return pattern % {"label": label_name(label), "min": min, "max": max}


def label_name(label: Any) -> str:
    """What a message calls a field: its label without a closing aside or question mark
    ("Comment (optional)" is "Comment", "Why is it cancelled?" "Why is it cancelled"), as
    in "Period: enter the month as YYYY-MM" for the label "Period (YYYY-MM)"."""
    text = str(label).strip()
    return _ASIDE.sub("", text) or text


class Length(wtf_validators.Length):
    """WTForms' ``Length`` whose message names the field. A resident on a phone reads the
    errors in the summary at the top of the page, where "Field cannot be longer than 200
    characters" does not say which field. Without ``message`` the message is
    :func:`length_message` of the field's label; a ``message`` given must name the field
    itself (tests/core/test_form_messages.py walks every form and checks)."""

    def __call__(self, form: Any, field: Any) -> None:
        length = len(field.data or "")
        if length >= self.min and (self.max == -1 or length <= self.max):
            return
        if self.message is not None:
            raise ValidationError(self.message % {"min": self.min, "max": self.max,
                                                  "length": length})
        raise ValidationError(length_message(field.label.text, self.min, self.max))
