"""The Reports screen's choice of store and period (read with GET, so it carries no CSRF token)."""

from __future__ import annotations

from typing import Any

from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError

from ..audit.forms import DATE_RANGE_MESSAGE, EARLIEST, LATEST
from ..i18n import N_, Message
from ..sales.fields import GuardedForm
from ..vocab import ReportPeriod
from .periods import MAX_DAYS

ALL_STORES = 0


def _in_range(form: Any, field: Any) -> None:
    """Refuse dates no sale can have (and that would overflow the UTC bounds)."""
    if field.data and not EARLIEST <= field.data <= LATEST:
        raise ValidationError(DATE_RANGE_MESSAGE)


class ReportForm(GuardedForm):
    """Store (head office only), period, and the dates of a custom period (a card number typed is never echoed)."""

    class Meta:
        csrf = False

    store = SelectField(N_("Store"), coerce=int, default=ALL_STORES)
    period = SelectField(N_("Period"), choices=ReportPeriod.choices(), default=ReportPeriod.THIS_WEEK.value)
    date_from = DateField(N_("From"), validators=[Optional(), _in_range], render_kw={"autocomplete": "off"})
    date_to = DateField(N_("To"), validators=[Optional(), _in_range], render_kw={"autocomplete": "off"})

    def validate(self, extra_validators: Any = None) -> bool:
        """Check the fields, then that a custom period has both days, in order, at most MAX_DAYS days in all."""
        valid = super().validate(extra_validators)
        if self.period.data != ReportPeriod.CUSTOM:
            return valid
        first, last = self.date_from, self.date_to
        if not first.data and not first.errors:
            first.errors.append(N_("Enter the first day of the period."))
        if not last.data and not last.errors:
            last.errors.append(N_("Enter the last day of the period."))
        if first.data and last.data:
            if last.data < first.data:
                last.errors.append(N_("The last day must be on or after the first."))
            elif (last.data - first.data).days + 1 > MAX_DAYS:
                last.errors.append(Message(N_("A report covers at most %(most)s days."), most=MAX_DAYS))
        return valid and not first.errors and not last.errors
