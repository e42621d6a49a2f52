"""Forms of the sale: products and customer, options, payment; every one refuses card numbers (fields.py)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from functools import cache
from typing import Any

from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    Field,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from ..i18n import N_, Message, current_locale
from ..i18n import lazy_gettext as _l
from ..intl import countries_in, languages_in
from ..models import Sale, Store
from ..phones import InvalidPhone, calling_codes, for_display, to_e164
from ..sensitive import new_key, normalise
from ..vocab import DeclineReason, PaymentMethod
from . import catalogue

# CARD_MESSAGE and refuse_card_numbers are re-exported: the sale's views and the tests take them from here.
from .fields import CARD_MESSAGE as CARD_MESSAGE
from .fields import GuardedForm, KeptSelect, MoneyField, ProductRows, QuantityField
from .fields import refuse_card_numbers as refuse_card_numbers
from .lookup import options_by_item, store_today
from .quoting import (
    CUSTOMER_FIELDS,
    MAX_PRICE,
    MAX_PRODUCTS,
    MAX_QUANTITY,
    PRODUCT_FIELDS,
    purchase_date_error,
)

STALE_FORM_MESSAGE = N_("This form was out of date. Check the details and tap Show cover options again.")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


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


def _text(
    label: str,
    *validators: Any,
    autocomplete: str = "off",
    inputmode: str | None = None,
    maxlength: int = 100,
    required: str = "",
    type_: str | None = None,
) -> StringField:
    """A text field with the right keyboard and autofill hints; `required` is the message when it is left empty."""
    kw: dict[str, Any] = {"autocomplete": autocomplete, "maxlength": maxlength}
    if inputmode:
        kw["inputmode"] = inputmode
    if type_:
        kw["type"] = type_
    if required:
        kw["required"] = True
    checks = [DataRequired(message=required)] if required else [Optional()]
    return StringField(label, validators=[*checks, Length(max=maxlength), *validators], render_kw=kw)


@cache
def _calling_codes_json() -> str:
    """Every country's calling code as JSON, for the phone prefix that follows Country (static/js/sale.js)."""
    return json.dumps(calling_codes(), sort_keys=True)


class ProductForm(Form):
    """One product in the basket."""

    product_name = _text(N_("Product name"), required=N_("Enter the product name."), maxlength=200)
    category = SelectField(
        N_("Category"), validators=[DataRequired(message=N_("Choose a category."))], widget=KeptSelect()
    )
    price = MoneyField(
        N_("Price"),
        places=2,
        maximum=MAX_PRICE,
        too_large=Message(N_("Enter a price of at most %(most)s each."), most=MAX_PRICE),
        validators=[
            InputRequired(message=N_("Enter the price.")),
            NumberRange(min=Decimal("0.01"), message=N_("Enter a price above zero.")),
        ],
        render_kw={"inputmode": "decimal", "autocomplete": "off", "required": True},
    )
    quantity = QuantityField(
        N_("Quantity"),
        default=1,
        validators=[InputRequired(message=N_("Enter the quantity."))],
        render_kw={"inputmode": "numeric", "type": "number", "min": 1, "max": MAX_QUANTITY, "autocomplete": "off"},
    )
    brand = _text(N_("Brand"))
    model = _text(N_("Model"))
    sku = _text(N_("SKU / barcode"), maxlength=64)
    serial_number = _text(N_("Serial number"), maxlength=64)
    purchase_date = DateField(
        N_("Purchase date"),
        validators=[InputRequired(message=N_("Enter the purchase date."))],
        render_kw={"autocomplete": "off"},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.category.choices = [("", _l("Choose…")), *catalogue.category_choices()]

    def as_product(self) -> dict[str, Any]:
        """Return the product as the service takes it."""
        return {name: (f.data.strip() if isinstance(f.data, str) else f.data) for name, f in self._fields.items()}


class SaleForm(GuardedForm):
    """Screen 1: the products and the customer."""

    items = ProductRows(FormField(ProductForm), min_entries=1, max_entries=MAX_PRODUCTS)
    # Issued with a blank new-sale form: every tap that sends this one form lands on the one sale it started.
    submission = HiddenField(validators=[Optional(), Regexp(_UUID, message=STALE_FORM_MESSAGE)])
    first_name = _text(N_("First name"), required=N_("Enter the first name."), autocomplete="given-name", maxlength=80)
    last_name = _text(N_("Last name"), required=N_("Enter the last name."), autocomplete="family-name", maxlength=80)
    email = _text(
        N_("Email"),
        Email(message=N_("Enter an email address like name@example.com.")),
        required=N_("Enter the email."),
        autocomplete="email",
        inputmode="email",
        type_="email",
        maxlength=254,
    )
    phone = _text(
        N_("Mobile phone"),
        required=N_("Enter the mobile phone."),
        autocomplete="tel",
        inputmode="tel",
        type_="tel",
        maxlength=32,
    )
    address1 = _text(N_("Address"), required=N_("Enter the address."), autocomplete="address-line1", maxlength=200)
    city = _text(N_("City"), required=N_("Enter the city."), autocomplete="address-level2")
    region = _text(N_("Region"), autocomplete="address-level1")
    postcode = _text(N_("Postcode"), required=N_("Enter the postcode."), autocomplete="postal-code", maxlength=20)
    country = SelectField(
        N_("Country"),
        choices=lambda: list(countries_in(str(current_locale())).items()),
        render_kw={"autocomplete": "country"},
        widget=KeptSelect(),
    )
    language = SelectField(
        N_("Language"),
        choices=lambda: list(languages_in(str(current_locale())).items()),
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
            self.submission.raw_data, self.submission.data = [], new_key()
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


class OptionsForm(GuardedForm):
    """Screen 2: per product Add (one option) or No thanks with a reason, and the acknowledgement."""

    acknowledged = BooleanField(N_("The customer has seen the key facts, price and disclaimer of the cover chosen."))

    def __init__(self, groups: list[tuple[Any, list[Any]]], formdata: Any = None) -> None:
        """Bind the class's fields plus a choice and a reason per product (no class is built per request)."""
        rows = []
        reasons = [("", _l("Choose a reason…")), *((value, _l(label)) for value, label in DeclineReason.choices())]
        for item, covers in groups:
            offered = [(str(c.id), c.title) for c in covers if c.quote_id]
            choice = RadioField(
                item.product_name,
                choices=[*offered, ("none", _l("No thanks"))],
                validate_choice=False,
                validators=[Optional()],
            )
            reason = SelectField(N_("Reason"), choices=reasons, validators=[Optional()], widget=KeptSelect())
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
        N_("Payment method"),
        choices=[(value, _l(label)) for value, label in PaymentMethod.choices()],
        default=PaymentMethod.CARD.value,
        validators=[DataRequired(message=N_("Choose how the customer paid."))],
    )
    receipt_number = _text(N_("Receipt number"), required=N_("Enter the receipt number."), maxlength=64)
    amount_collected = MoneyField(
        N_("Amount collected"),
        places=2,
        maximum=MAX_PRICE * MAX_QUANTITY * MAX_PRODUCTS,
        too_large=N_("Enter the amount collected: exactly the cover total."),
        validators=[InputRequired(message=N_("Enter the amount collected for the cover."))],
        render_kw={"inputmode": "decimal", "autocomplete": "off", "required": True},
    )
    card_last4 = StringField(
        N_("Card last four digits"),
        # Full-width digits become ASCII ones; any other digit system is refused, so only 0-9 is stored.
        filters=[lambda value: normalise(value).strip() if isinstance(value, str) else value],
        validators=[Optional(), Regexp(r"^[0-9]{4}$", re.ASCII, message=N_("Exactly 4 digits, or leave it empty."))],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "maxlength": 4, "pattern": "[0-9]{4}"},
    )
