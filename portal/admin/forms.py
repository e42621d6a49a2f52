"""Forms of the administration screens; every one refuses card numbers, as the sale's do."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from wtforms import FieldList, Form, FormField, IntegerField, RadioField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from ..auth.forms import USERNAME_KEYBOARD
from ..auth.passwords import MAX_LENGTH, MIN_LENGTH
from ..i18n import N_, Message, gettext
from ..i18n import lazy_gettext as _l
from ..intl import countries, currencies, languages, time_zones, zones_of
from ..models import Store
from ..phones import calling_code
from ..sales.fields import GuardedForm, MoneyField
from ..vocab import Role
from .catalogue import MAX_LINES, MAX_TERM_MONTHS
from .catalogue_check import SAMPLE_PRICE

TEMPORARY_HINT = _l(
    "Leave empty and the portal makes one up and shows it once. At least %(length)s characters, not your username,"
    " nothing easy to guess.",
    length=MIN_LENGTH,
)
CODE_KEYBOARD = {"autocapitalize": "characters", "autocorrect": "off", "spellcheck": "false"}


def _text(label: str, *, maxlength: int, required: str = "", **render_kw: Any) -> StringField:
    """A text field; `required` is the message when it is left empty (without one the field is optional)."""
    checks = [DataRequired(required)] if required else [Optional()]
    return StringField(
        label,
        validators=[*checks, Length(max=maxlength)],
        render_kw={"autocomplete": "off", "maxlength": maxlength, **render_kw},
    )


def _temporary_password() -> StringField:
    """The temporary password a manager hands over: shown as typed, so it can be read back to the person."""
    return StringField(
        N_("Temporary password"),
        validators=[Optional(), Length(max=MAX_LENGTH)],
        description=TEMPORARY_HINT,
        render_kw={"autocomplete": "off", "maxlength": MAX_LENGTH, **USERNAME_KEYBOARD},
    )


class PersonForm(GuardedForm):
    """Someone new at the store: username, name, role (head office only) and an optional temporary password."""

    username = _text(N_("Username"), maxlength=64, required=N_("Enter the username."), **USERNAME_KEYBOARD)
    display_name = _text(N_("Name"), maxlength=120, required=N_("Enter the name."), autocapitalize="words")
    role = RadioField(N_("Role"), default=Role.ASSOCIATE.value, validators=[DataRequired(N_("Choose a role."))])
    password = _temporary_password()

    def __init__(self, *args: Any, roles: list[Role], **kwargs: Any) -> None:
        """Offer the roles the person adding may give."""
        super().__init__(*args, **kwargs)
        self.role.choices = [(r.value, r.label) for r in roles]


class ResetPasswordForm(GuardedForm):
    """A new temporary password for someone: typed, or made up by the portal."""

    password = _temporary_password()


def _country_choices() -> list[tuple[str, str]]:
    """Countries by name."""
    return list(countries().items())


def _phone_country_choices() -> list[tuple[str, str]]:
    """Countries by name, with the prefix a number typed without + gets."""
    return [(code, f"{name} ({calling_code(code)})") for code, name in countries().items()]


class StoreSettingsForm(GuardedForm):
    """What a manager sets for their store: display name, time zone, language, default phone country."""

    name = _text(N_("Store name"), maxlength=120, required=N_("Enter the store name."), autocapitalize="words")
    timezone = SelectField(N_("Time zone"), validators=[DataRequired(N_("Choose the time zone."))])
    language = SelectField(N_("Language"), validators=[DataRequired(N_("Choose the language."))])
    phone_country = SelectField(
        N_("Phone country"),
        choices=_phone_country_choices,
        description=N_("A customer's mobile number typed without + is read as this country's."),
        validators=[DataRequired(N_("Choose the phone country."))],
    )

    def __init__(self, *args: Any, store: Store | None = None, **kwargs: Any) -> None:
        """Offer the store's own country's zones first, and keep whatever the store already has on the lists."""
        super().__init__(*args, **kwargs)
        country = (self.country.data if hasattr(self, "country") else None) or (store.country if store else "")
        own = zones_of(country or "")
        everything = list(time_zones())
        if store is not None and store.timezone not in everything:
            everything.append(store.timezone)
        zones: Any = [(z, z.replace("_", " ")) for z in everything]
        if own:
            zones = {
                gettext("In %(country)s", country=countries().get(country.upper(), country)): [
                    (z, z.replace("_", " ")) for z in own
                ],
                gettext("All time zones"): zones,
            }
        self.timezone.choices = zones
        language_choices = list(languages().items())
        if store is not None and store.language not in languages():
            language_choices.insert(0, (store.language, store.language))
        self.language.choices = language_choices

    def values(self) -> dict[str, str]:
        """Return the settings as the store rules take them."""
        return {name: field.data or "" for name, field in self._fields.items() if name != "csrf_token"}


class StoreForm(StoreSettingsForm):
    """Head office's edit of a store: its country and currency too."""

    country = SelectField(N_("Country"), choices=_country_choices, validators=[DataRequired(N_("Choose the country."))])
    currency = SelectField(
        N_("Currency"),
        choices=lambda: [(code, f"{code} · {name}") for code, name in currencies().items()],
        validators=[DataRequired(N_("Choose the currency."))],
    )


class NewStoreForm(StoreForm):
    """A new store: its code as well (it never changes)."""

    code = _text(N_("Store code"), maxlength=16, required=N_("Enter the store code."), **CODE_KEYBOARD)


class LineForm(Form):
    """One cover to quote for a category."""

    policy_type = _text(N_("Policy type"), maxlength=64, required=N_("Enter the policy type."), **USERNAME_KEYBOARD)
    policy_type_version = _text(N_("Version"), maxlength=64, required=N_("Enter the version."), **USERNAME_KEYBOARD)
    cover_term_months = IntegerField(
        N_("Term (months)"),
        validators=[
            Optional(),
            NumberRange(min=1, max=MAX_TERM_MONTHS, message=Message(N_("From 1 to %(most)s."), most=MAX_TERM_MONTHS)),
        ],
        render_kw={"inputmode": "numeric", "autocomplete": "off", "min": 1, "max": MAX_TERM_MONTHS},
    )


class CategoryForm(GuardedForm):
    """A category of a draft catalogue: key (new ones only), the name the counter shows, the lines quoted."""

    key = _text(N_("Key"), maxlength=40, **USERNAME_KEYBOARD)
    label = _text(N_("Name at the counter"), maxlength=80, required=N_("Enter the name at the counter."))
    lines = FieldList(FormField(LineForm), min_entries=0, max_entries=MAX_LINES)

    def line_values(self) -> list[dict[str, Any]]:
        """Return the lines as typed."""
        return [entry.form.data for entry in self.lines]


class CheckForm(GuardedForm):
    """Which store's country and currency, and which price, the sample products are quoted in."""

    store = SelectField(N_("Quote as store"), coerce=int, validators=[InputRequired(N_("Choose a store."))])
    price = MoneyField(
        N_("Sample product price"),
        places=2,
        default=SAMPLE_PRICE,
        validators=[
            InputRequired(N_("Enter a price.")),
            NumberRange(min=Decimal("0.01"), max=1000000, message=N_("Enter a price above zero.")),
        ],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
