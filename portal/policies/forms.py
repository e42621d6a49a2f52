"""Forms after the sale: returns, approval, confirmation, corrections and refunds; every one refuses card numbers."""

from __future__ import annotations

from typing import Any

from wtforms import PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..i18n import N_
from ..i18n import lazy_gettext as _l
from ..models import Cover, SaleItem
from ..sales.fields import GuardedForm, MoneyField
from ..vocab import ReturnReason
from .corrections import FIELDS

TEXT = {"autocomplete": "off", "autocapitalize": "none", "autocorrect": "off", "spellcheck": "false"}


class MultiCheckboxField(SelectMultipleField):
    """Several choices as checkboxes (the form macro draws each as a large tappable choice)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _reference(label: str, required: str = "") -> StringField:
    """A till reference: short free text; `required` is the message when it is left empty (else it is optional)."""
    checks = [DataRequired(message=required)] if required else [Optional()]
    return StringField(label, validators=[*checks, Length(max=64)], render_kw={**TEXT, "maxlength": 64})


class ReturnForm(GuardedForm):
    """Which policies the customer brings back, and why."""

    covers = MultiCheckboxField(
        N_("Policies to cancel"),
        coerce=int,
        validators=[DataRequired(message=N_("Choose the policies the customer is returning."))],
    )
    reason = SelectField(
        N_("Reason"),
        choices=[("", _l("Choose a reason…")), *((value, _l(label)) for value, label in ReturnReason.choices())],
        validators=[DataRequired(message=N_("Choose why the customer is returning the cover."))],
    )

    def __init__(self, *args: Any, covers: list[Cover], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.covers.choices = [(c.id, f"{c.title or c.policy_type} · {c.item.product_name}") for c in covers]


class ApprovalForm(GuardedForm):
    """A manager signs for one approval on this iPad: their username and password, and their decision."""

    username = StringField(
        N_("Manager's username"),
        validators=[DataRequired(message=N_("Enter the manager's username.")), Length(max=64)],
        render_kw={**TEXT, "maxlength": 64},
    )
    # Never kept by the browser: it belongs to the manager, not to whoever uses this iPad.
    password = PasswordField(
        N_("Manager's password"),
        validators=[DataRequired(message=N_("Enter the manager's password.")), Length(max=128)],
        render_kw={"autocomplete": "off", "maxlength": 128},
    )
    decision = StringField(N_("Decision"), validators=[AnyOf(["approve", "refuse"], message=N_("Approve or refuse."))])


class DecisionForm(GuardedForm):
    """A signed-in manager's decision from the approval queue."""

    decision = StringField(N_("Decision"), validators=[AnyOf(["approve", "refuse"], message=N_("Approve or refuse."))])


class ConfirmReturnForm(GuardedForm):
    """The till's refund reference, then the cancellation is confirmed with XCover."""

    refund_reference = _reference(N_("Till refund reference"), required=N_("Enter the till refund reference."))


class RefundForm(GuardedForm):
    """The till's refund of cover that was paid for and not booked."""

    refund_reference = _reference(N_("Till refund reference"), required=N_("Enter the till refund reference."))


class CorrectionForm(GuardedForm):
    """The details of a booked product XCover lets a booking change."""

    serial_number = StringField(
        N_("Serial number"), validators=[Optional(), Length(max=64)], render_kw={**TEXT, "maxlength": 64}
    )
    brand = StringField(N_("Brand"), validators=[Optional(), Length(max=100)], render_kw={**TEXT, "maxlength": 100})
    model = StringField(N_("Model"), validators=[Optional(), Length(max=100)], render_kw={**TEXT, "maxlength": 100})
    sku = StringField(N_("SKU / barcode"), validators=[Optional(), Length(max=64)], render_kw={**TEXT, "maxlength": 64})
    price = MoneyField(
        N_("Price"),
        places=2,
        validators=[DataRequired(message=N_("Enter the price.")), NumberRange(min=0.01, max=1000000)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )

    @classmethod
    def for_item(cls, item: SaleItem) -> CorrectionForm:
        """The form filled with what the product has now."""
        return cls(data={name: getattr(item, name) for name in FIELDS})

    def values(self) -> dict[str, Any]:
        """Return the typed values by field name."""
        return {name: self[name].data for name in FIELDS}


class ConfirmCorrectionForm(GuardedForm):
    """Apply a priced correction; a price difference needs the till's reference."""

    till_reference = _reference(N_("Till reference for the price difference"))
