"""Forms of the sale: products and customer, options, payment; every one refuses card numbers."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from flask_wtf import FlaskForm
from markupsafe import Markup
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.utils import unset_value
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    StopValidation,
    ValidationError,
)
from wtforms.widgets import Select, TextInput

from ..intl import countries, languages
from ..models import Sale, Store
from ..phones import InvalidPhone, calling_codes, for_display, to_e164
from ..sensitive import find_card_number, normalise
from ..vocab import DeclineReason, PaymentMethod
from . import catalogue
from .lookup import options_by_item, store_today
from .quoting import (
    CUSTOMER_FIELDS,
    MAX_PRICE,
    MAX_PRODUCTS,
    MAX_QUANTITY,
    PRODUCT_FIELDS,
    TOO_MANY_PRODUCTS,
    purchase_date_error,
)

CARD_MESSAGE = (
    "This looks like a card number. Never type card numbers here: only the last four digits go in the payment step."
)
STALE_FORM_MESSAGE = "This form was out of date. Check the details and tap Show cover options again."
# The largest amount a money column (NUMERIC(12, 2)) holds.
MAX_AMOUNT = Decimal("9999999999.99")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


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
        too_large: str = f"Enter an amount of at most {MAX_AMOUNT:,}.",
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
            raise ValueError("Enter an amount like 899.00.")
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            raise ValueError("Enter an amount like 899.00.") from None
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

    message = f"Enter a quantity from 1 to {MAX_QUANTITY}."

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


def without_row(formdata: Any, rows: ProductRows, position: int) -> MultiDict:
    """Return the form data with one product row taken out and the others renumbered, every value as typed."""
    names = [entry.name for entry in rows]
    del names[position]
    renamed = {old: f"{rows.name}-{new}" for new, old in enumerate(names)}
    kept = MultiDict()
    for key, value in formdata.items(multi=True):
        row = "-".join(key.split("-", 2)[:2])
        if key.startswith(rows.name + "-"):
            if row in renamed:
                kept.add(renamed[row] + key[len(row) :], value)
        elif key not in ("add_item", "remove_item"):
            kept.add(key, value)
    return kept


def new_submission_token() -> str:
    """Return a one-time token for a new-sale form: a uuid4 that spells no card number."""
    while True:
        token = str(uuid.uuid4())
        if not find_card_number(token):
            return token


def _text(
    label: str,
    *validators: Any,
    autocomplete: str = "off",
    inputmode: str | None = None,
    maxlength: int = 100,
    required: bool = False,
    type_: str | None = None,
) -> StringField:
    """A text field with the right keyboard and autofill hints."""
    kw: dict[str, Any] = {"autocomplete": autocomplete, "maxlength": maxlength}
    if inputmode:
        kw["inputmode"] = inputmode
    if type_:
        kw["type"] = type_
    if required:
        kw["required"] = True
    checks = [DataRequired(message=f"Enter the {label.lower()}.")] if required else [Optional()]
    return StringField(label, validators=[*checks, Length(max=maxlength), *validators], render_kw=kw)


class KeptSelect(Select):
    """A select drawn once per choices, value and attributes: the countries' 250 options cost nothing the next time."""

    kept: dict[tuple[Any, ...], Markup] = {}
    KEEP = 512

    def __call__(self, field: Any, **kwargs: Any) -> Markup:
        """Return the select as drawn before for the same choices, value and attributes, or draw and keep it."""
        if not isinstance(field.choices, list):
            return super().__call__(field, **kwargs)
        key = (field.name, repr(field.data), tuple(field.choices), tuple(sorted(kwargs.items())), field.flags.required)
        try:
            html = self.kept.get(key)
        except TypeError:  # an attribute that cannot be a key
            return super().__call__(field, **kwargs)
        if html is None:
            if len(self.kept) >= self.KEEP:
                self.kept.clear()
            html = self.kept[key] = super().__call__(field, **kwargs)
        return html


@cache
def _calling_codes_json() -> str:
    """Every country's calling code as JSON, for the phone prefix that follows Country (static/js/sale.js)."""
    return json.dumps(calling_codes(), sort_keys=True)


class ProductForm(Form):
    """One product in the basket."""

    product_name = _text("Product name", required=True, maxlength=200)
    category = SelectField("Category", validators=[DataRequired(message="Choose a category.")], widget=KeptSelect())
    price = MoneyField(
        "Price",
        places=2,
        maximum=MAX_PRICE,
        too_large=f"Enter a price of at most {MAX_PRICE:,} each.",
        validators=[
            InputRequired(message="Enter the price."),
            NumberRange(min=Decimal("0.01"), message="Enter a price above zero."),
        ],
        render_kw={"inputmode": "decimal", "autocomplete": "off", "required": True},
    )
    quantity = QuantityField(
        "Quantity",
        default=1,
        validators=[InputRequired(message="Enter the quantity.")],
        render_kw={"inputmode": "numeric", "type": "number", "min": 1, "max": MAX_QUANTITY, "autocomplete": "off"},
    )
    brand = _text("Brand")
    model = _text("Model")
    sku = _text("SKU / barcode", maxlength=64)
    serial_number = _text("Serial number", maxlength=64)
    purchase_date = DateField(
        "Purchase date",
        validators=[InputRequired(message="Enter the purchase date.")],
        render_kw={"autocomplete": "off"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.category.choices = [("", "Choose…"), *catalogue.category_choices()]

    def as_product(self) -> dict[str, Any]:
        """Return the product as the service takes it."""
        return {name: (f.data.strip() if isinstance(f.data, str) else f.data) for name, f in self._fields.items()}


class SaleForm(GuardedForm):
    """Screen 1: the products and the customer."""

    items = ProductRows(FormField(ProductForm), min_entries=1, max_entries=MAX_PRODUCTS)
    # Issued with a blank new-sale form: every tap that sends this one form lands on the one sale it started.
    submission = HiddenField(validators=[Optional(), Regexp(_UUID, message=STALE_FORM_MESSAGE)])
    first_name = _text("First name", required=True, autocomplete="given-name", maxlength=80)
    last_name = _text("Last name", required=True, autocomplete="family-name", maxlength=80)
    email = _text(
        "Email",
        Email(message="Enter an email address like name@example.com."),
        required=True,
        autocomplete="email",
        inputmode="email",
        type_="email",
        maxlength=254,
    )
    phone = _text("Mobile phone", required=True, autocomplete="tel", inputmode="tel", type_="tel", maxlength=32)
    address1 = _text("Address", required=True, autocomplete="address-line1", maxlength=200)
    city = _text("City", required=True, autocomplete="address-level2")
    region = _text("Region", autocomplete="address-level1")
    postcode = _text("Postcode", required=True, autocomplete="postal-code", maxlength=20)
    country = SelectField(
        "Country",
        choices=lambda: list(countries().items()),
        render_kw={"autocomplete": "country"},
        widget=KeptSelect(),
    )
    language = SelectField(
        "Language",
        choices=lambda: list(languages().items()),
        render_kw={"autocomplete": "language"},
        widget=KeptSelect(),
    )

    def __init__(self, *args: Any, store: Store, **kwargs: Any) -> None:
        """Bind the form to the store: a phone without + is read in its phone country, dates end at its today."""
        super().__init__(*args, **kwargs)
        self.phone_region = store.phone_country
        self.today = store_today(store)
        # The prefix in the phone box follows the Country chosen (static/js/sale.js).
        self.country.render_kw = {
            **self.country.render_kw,
            "data-calling-codes": _calling_codes_json(),
        }

    def validate(self, extra_validators: Any = None) -> bool:
        """Check every field, the purchase dates against the store's today, and the number of rows sent."""
        ok = super().validate(extra_validators)
        for entry in self.items:
            day = entry.form.purchase_date
            problem = purchase_date_error(day.data, self.today) if day.data and not day.errors else None
            if problem:
                day.errors = [*day.errors, problem]
                ok = False
        if self.submission.errors:
            # A hidden field: its error is said above the form, and a fresh token comes with the page.
            self.form_errors.append(STALE_FORM_MESSAGE)
            self.submission.raw_data, self.submission.data = [], new_submission_token()
        return ok and not self.items.overflow

    def validate_phone(self, field: Field) -> None:
        """A number phonenumbers can read and knows to be valid, in E.164 once stored."""
        try:
            to_e164(field.data or "", self.phone_region)
        except InvalidPhone as exc:
            raise ValidationError(exc.message) from None

    def customer(self) -> dict[str, Any]:
        """Return the customer's details as the service takes them."""
        return {name: getattr(self, name).data for name in CUSTOMER_FIELDS}

    def products(self) -> list[dict[str, Any]]:
        """Return the products as the service takes them."""
        return [entry.form.as_product() for entry in self.items]


def customer_labels() -> dict[str, str]:
    """Return the plain label of each customer field, for messages that name them off screen 1."""
    return {name: getattr(SaleForm, name).args[0] for name in CUSTOMER_FIELDS}


def sale_form_data(sale: Sale) -> dict[str, Any]:
    """Return the stored sale in the shape the SaleForm takes as data."""
    data: dict[str, Any] = {name: getattr(sale, name) for name in CUSTOMER_FIELDS}
    data["phone"] = for_display(sale.phone, sale.store.phone_country)
    data["items"] = [{f: getattr(item, f) for f in PRODUCT_FIELDS} for item in sale.items]
    return data


_REASON_CHOICES = [("", "Choose a reason…"), *DeclineReason.choices()]


class OptionsForm(GuardedForm):
    """Screen 2: per product Add (one option) or No thanks with a reason, and the acknowledgement."""

    acknowledged = BooleanField("The customer has seen the key facts, price and disclaimer of the cover chosen.")

    def __init__(self, groups: list[tuple[Any, list[Any]]], formdata: Any = None) -> None:
        """Bind the class's fields plus a choice and a reason per product (no class is built per request)."""
        rows = []
        for item, covers in groups:
            offered = [(str(c.id), c.title) for c in covers if c.quote_id]
            choice = RadioField(
                item.product_name,
                choices=[*offered, ("none", "No thanks")],
                validate_choice=False,
                validators=[Optional()],
            )
            reason = SelectField("Reason", choices=_REASON_CHOICES, validators=[Optional()], widget=KeptSelect())
            rows += [(f"choice_{item.id}", choice), (f"reason_{item.id}", reason)]
        # WTForms binds the fields listed here; an instance's own list leaves the class's untouched.
        self._unbound_fields = [*type(self)._unbound_fields, *rows]
        super().__init__(**({} if formdata is None else {"formdata": formdata}))


def options_form_for(sale: Sale, formdata: Any = None) -> OptionsForm:
    """Build screen 2's form for a sale's products and the options XCover offered for each."""
    return OptionsForm(options_by_item(sale), formdata)


def read_choices(form: Any, sale: Sale) -> tuple[dict[int, int | None], dict[int, str]]:
    """Return the picks (cover id, or None for No thanks) and decline reasons from the options form."""
    choices: dict[int, int | None] = {}
    reasons: dict[int, str] = {}
    for item in sale.items:
        raw = getattr(form, f"choice_{item.id}").data
        if raw == "none":
            choices[item.id] = None
            reasons[item.id] = getattr(form, f"reason_{item.id}").data or ""
        elif raw and str(raw).isdigit():
            choices[item.id] = int(raw)
    return choices, reasons


class PaymentForm(GuardedForm):
    """Screen 3: the till payment for products and cover together."""

    payment_method = RadioField(
        "Payment method",
        choices=PaymentMethod.choices(),
        default=PaymentMethod.CARD.value,
        validators=[DataRequired(message="Choose how the customer paid.")],
    )
    receipt_number = _text("Receipt number", required=True, maxlength=64)
    amount_collected = MoneyField(
        "Amount collected",
        places=2,
        maximum=MAX_PRICE * MAX_QUANTITY * MAX_PRODUCTS,
        too_large="Enter the amount collected: exactly the cover total.",
        validators=[InputRequired(message="Enter the amount collected for the cover.")],
        render_kw={"inputmode": "decimal", "autocomplete": "off", "required": True},
    )
    card_last4 = StringField(
        "Card last four digits",
        # Full-width digits become ASCII ones; any other digit system is refused, so only 0-9 is stored.
        filters=[lambda value: normalise(value).strip() if isinstance(value, str) else value],
        validators=[Optional(), Regexp(r"^[0-9]{4}$", re.ASCII, message="Exactly 4 digits, or leave it empty.")],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 4, "pattern": "[0-9]{4}"},
    )
