"""The audit viewer's filter form (read with GET, so it carries no CSRF token)."""

from __future__ import annotations

from datetime import date
from typing import Any

from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from ..i18n import N_
from ..i18n import lazy_gettext as _l
from ..sales.forms import GuardedForm
from ..vocab import AuditAction

# Dates outside this range cannot name an audit event, and near date.min/max they overflow the UTC bounds.
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)
DATE_RANGE_MESSAGE = _l(
    "Enter a date between %(first)s and %(last)s.", first=EARLIEST.isoformat(), last=LATEST.isoformat()
)


def _in_range(form: Any, field: Any) -> None:
    """Refuse dates no audit event can have."""
    if field.data and not EARLIEST <= field.data <= LATEST:
        raise ValidationError(DATE_RANGE_MESSAGE)


class EventFilterForm(GuardedForm):
    """Store (admins only), date range, actor, action and object (a card number is refused and not shown back)."""

    class Meta:
        csrf = False

    store = SelectField(N_("Store"), coerce=int, default=0)
    date_from = DateField(N_("From"), validators=[Optional(), _in_range], render_kw={"autocomplete": "off"})
    date_to = DateField(N_("To"), validators=[Optional(), _in_range], render_kw={"autocomplete": "off"})
    actor = StringField(
        N_("Person (username)"),
        validators=[Optional(), Length(max=64)],
        render_kw={"autocomplete": "off", "autocapitalize": "none", "autocorrect": "off", "spellcheck": "false"},
    )
    action = SelectField(
        N_("Action"),
        choices=[("", _l("Any action")), *((value, _l(label)) for value, label in AuditAction.choices())],
        default="",
    )
    object_id = StringField(
        N_("Object (e.g. XCover reference)"),
        validators=[Optional(), Length(max=64)],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "autocorrect": "off", "spellcheck": "false"},
    )

    def validate_date_to(self, field: Any) -> None:
        """The range must not end before it starts."""
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError(N_("The end date must be on or after the start date."))
