"""Form helpers every area's pages share (identity's account pages, the registry's, the
exchange's): select options for the installed WTForms, the tick-box field and the
``printable`` check for text typed or pasted into a form.

They live in the web layer so that an area's pages need not import another area's views
to get them (``core.identity.admin_views`` re-exports them under their old names).
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import SelectMultipleField, TextAreaField
from wtforms.validators import ValidationError

try:
    from wtforms.fields.choices import SelectChoice
except ImportError:  # WTForms before 3.3 takes (value, label) pairs
    SelectChoice = None

__all__ = ["CheckboxesField", "choices", "printable"]


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
