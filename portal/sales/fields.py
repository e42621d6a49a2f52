"""What every form is built from: the card-number guard (GuardedForm), amounts, quantities, product rows."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import DecimalField, Field, FieldList, FormField, IntegerField
from wtforms.utils import unset_value
from wtforms.validators import StopValidation
from wtforms.widgets import Select, TextInput

from ..i18n import N_, Message
from ..sensitive import find_card_number, normalise
from .quoting import MAX_QUANTITY, QUANTITY_MESSAGE, TOO_MANY_PRODUCTS

CARD_MESSAGE = N_(
    "This looks like a card number. Never type card numbers here: only the last four digits go in the payment step."
)
# The largest amount a money column (NUMERIC(12, 2)) holds.
MAX_AMOUNT = Decimal("9999999999.99")


def _leaf_fields(form: Any) -> Iterator[Field]:
    """Yield every input field of a form, inside repeated rows too."""
    for f in form:
        if isinstance(f, FieldList):
            for entry in f:
                yield from _leaf_fields(entry.form) if isinstance(entry, FormField) else [entry]
        elif isinstance(f, FormField):
            yield from _leaf_fields(f.form)
        else:
            yield f


def refuse_card_numbers(form: Any) -> bool:
    """Flag and blank every field holding a card number; True when none did."""
    clean = True
    for f in _leaf_fields(form):
        if f.name == "csrf_token":
            continue
        typed = " ".join(str(v) for v in (f.raw_data or []))
        # A phone is judged as its normaliser joins it (every digit together), a valid phone number exempt.
        region = getattr(form, "phone_region", None) if f.name == "phone" else None
        if find_card_number(typed, phone_region=region):
            # Blank it so the number is not echoed back into the page either.
            f.raw_data, f.data = [], None
            f.errors = [*(e for e in f.errors if e != CARD_MESSAGE), CARD_MESSAGE]
            clean = False
    return clean


class GuardedForm(FlaskForm):
    """A form that refuses a Luhn-valid card number in any field."""

    def validate(self, extra_validators: Any = None) -> bool:
        """Run the field validators, then the card-number guard over every field."""
        ok = super().validate(extra_validators)
        return refuse_card_numbers(self) and ok

    def apply_errors(self, errors: dict[str, list[str]]) -> None:
        """Show errors the service or XCover raised (keyed by our field names) beside their fields."""
        by_name = {f.name: f for f in _leaf_fields(self)}
        for name, messages in errors.items():
            target = by_name.get(name)
            if target is not None:
                target.errors = [*list(target.errors), *messages]
            else:
                self.form_errors.extend(messages)


class MoneyField(DecimalField):
    """An amount typed as text with the decimal keypad: a number input would drop what it cannot read."""

    widget = TextInput()

    def __init__(
        self,
        *args: Any,
        maximum: Decimal = MAX_AMOUNT,
        too_large: str = Message(N_("Enter an amount of at most %(most)s."), most=MAX_AMOUNT),
        **kwargs: Any,
    ) -> None:
        """Bind the field; an amount above maximum is refused with the too_large message."""
        super().__init__(*args, **kwargs)
        self.maximum = maximum
        self.too_large = too_large

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Read 1299.99, 1,299.99, 12,50 or £12.50; anything else is an error and stays on screen."""
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        raw = re.sub(r"[\s£$€]", "", normalise(str(valuelist[0])))
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d{1,2})?", raw):
            raw = raw.replace(",", "")
        elif re.fullmatch(r"\d+,\d{1,2}", raw):
            raw = raw.replace(",", ".")
        self.data = None
        if not re.fullmatch(r"\d+(\.\d{1,2})?", raw):
            raise ValueError(N_("Enter an amount like 899.00."))
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            raise ValueError(N_("Enter an amount like 899.00.")) from None
        # Refused here, not by a validator: a huge amount must never reach the page's rounding or the database.
        if amount > self.maximum:
            raise ValueError(self.too_large)
        self.data = amount

    def pre_validate(self, form: Any) -> None:
        """An amount that could not be read needs no further messages."""
        if self.process_errors:
            raise StopValidation()


class QuantityField(IntegerField):
    """A whole number from 1 to MAX_QUANTITY, or one clear error."""

    message = QUANTITY_MESSAGE

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Read the count; anything else (huge, negative, 1e3) is one error and stays on screen."""
        self.data = None
        if not valuelist or not str(valuelist[0]).strip():
            return
        raw = normalise(str(valuelist[0])).strip()
        # isdecimal: digits of any script (int() reads them), never "²" or "1e3"; three at most, so never huge.
        if not (raw.isdecimal() and len(raw) <= 3) or not 1 <= int(raw) <= MAX_QUANTITY:
            raise ValueError(self.message)
        self.data = int(raw)

    def pre_validate(self, form: Any) -> None:
        """A count that could not be read needs no further messages."""
        if self.process_errors:
            raise StopValidation()


class ProductRows(FieldList):
    """The product rows: indices in ASCII digits only, and how many rows were sent, past the limit too."""

    submitted = 0

    def _extract_indices(self, prefix: str, formdata: Any) -> Iterator[int]:
        """Yield the row numbers in the form data (items-3-price is row 3); 'items-²-price' is no row."""
        offset = len(prefix) + 1
        for key in formdata:
            if key.startswith(prefix + "-"):
                index = key[offset:].split("-", 1)[0]
                if re.fullmatch(r"[0-9]{1,6}", index, re.ASCII):
                    yield int(index)

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        """Read the first max_entries rows, and count every row sent."""
        super().process(formdata, data, extra_filters)
        self.submitted = len(set(self._extract_indices(self.name, formdata))) if formdata else len(self.entries)

    @property
    def overflow(self) -> str:
        """The message for rows sent past the limit (empty when none were)."""
        return TOO_MANY_PRODUCTS if self.submitted > (self.max_entries or self.submitted) else ""


class KeptSelect(Select):
    """A select drawn once per choices, value and attributes: the countries' 250 options cost nothing the next time."""

    kept: dict[tuple[Any, ...], Markup] = {}
    KEEP = 512

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        """Return the select as drawn before for the same choices, value and attributes, or draw and keep it."""
        if not isinstance(field.choices, list):
            return super().__call__(field, **kwargs)
        # Choices are keyed as the text they show, so a translated label (a lazy string) keys per language.
        choices = tuple((value, str(label)) for value, label in field.choices)
        key = (field.name, repr(field.data), choices, tuple(sorted(kwargs.items())), field.flags.required)
        try:
            html = self.kept.get(key)
        except TypeError:  # an attribute that cannot be a key
            return super().__call__(field, **kwargs)
        if html is None:
            if len(self.kept) >= self.KEEP:
                self.kept.clear()
            html = self.kept[key] = super().__call__(field, **kwargs)
        return html
