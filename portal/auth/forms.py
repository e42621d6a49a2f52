"""Sign-in and password forms."""

from __future__ import annotations

from typing import Any

from wtforms import Field, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from ..i18n import N_
from ..i18n import lazy_gettext as _l
from ..sales.fields import GuardedForm
from .passwords import MAX_LENGTH, MIN_LENGTH, password_problem
from .pins import PIN_LENGTH, pin_problem

USERNAME_KEYBOARD = {"autocapitalize": "none", "autocorrect": "off", "spellcheck": "false"}
NEW_PASSWORD_HINT = _l("At least %(length)s characters, not your username, nothing easy to guess.", length=MIN_LENGTH)
# A PIN: the number keypad, never remembered by the browser.
PIN_KEYBOARD = {"inputmode": "numeric", "autocomplete": "off", "pattern": "[0-9]*", "maxlength": PIN_LENGTH}


class SignInForm(GuardedForm):
    """Username and password (a card number typed as either is refused and not shown back)."""

    username = StringField(
        N_("Username"),
        validators=[DataRequired(N_("Enter your username.")), Length(max=64)],
        render_kw={"autocomplete": "username", **USERNAME_KEYBOARD, "autofocus": True},
    )
    password = PasswordField(
        N_("Password"),
        validators=[DataRequired(N_("Enter your password.")), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(N_("Sign in"))


def new_password_field(label: str = N_("New password")) -> PasswordField:
    """A field for choosing a password: the password manager's new-password hint and the policy's length."""
    return PasswordField(
        label,
        validators=[DataRequired(N_("Choose a password.")), Length(max=MAX_LENGTH)],
        description=NEW_PASSWORD_HINT,
        render_kw={"autocomplete": "new-password", "maxlength": MAX_LENGTH, **USERNAME_KEYBOARD},
    )


class ChangePasswordForm(GuardedForm):
    """One's own password: the current one, and the new one twice."""

    current_password = PasswordField(
        N_("Current password"),
        validators=[DataRequired(N_("Enter your current password.")), Length(max=MAX_LENGTH)],
        render_kw={"autocomplete": "current-password", **USERNAME_KEYBOARD},
    )
    new_password = new_password_field()
    confirm = PasswordField(
        N_("New password again"),
        validators=[
            DataRequired(N_("Type the new password again.")),
            EqualTo("new_password", N_("The two do not match.")),
        ],
        render_kw={"autocomplete": "new-password", "maxlength": MAX_LENGTH, **USERNAME_KEYBOARD},
    )

    def __init__(self, *args: Any, username: str, **kwargs: Any) -> None:
        """Bind the form for the person whose password it is (the policy refuses their username in it)."""
        super().__init__(*args, **kwargs)
        self.username = username

    def validate_new_password(self, field: Field) -> None:
        """The same policy as `flask create-user`."""
        problem = password_problem(field.data or "", self.username)
        if problem:
            raise ValidationError(problem)


class PinForm(GuardedForm):
    """One's own quick-switch PIN, twice."""

    pin = PasswordField(
        N_("New PIN"),
        validators=[DataRequired(N_("Choose a PIN.")), Length(max=PIN_LENGTH * 4)],
        description=_l("%(digits)s digits; no repeated digits, runs like 123456, or patterns.", digits=PIN_LENGTH),
        render_kw=PIN_KEYBOARD,
    )
    confirm = PasswordField(
        N_("New PIN again"),
        validators=[DataRequired(N_("Type the PIN again.")), EqualTo("pin", N_("The two do not match."))],
        render_kw=PIN_KEYBOARD,
    )

    def validate_pin(self, field: Field) -> None:
        """Six digits, nothing easy to guess."""
        problem = pin_problem(field.data or "")
        if problem:
            raise ValidationError(problem)


class UnlockForm(GuardedForm):
    """The PIN typed on a locked iPad."""

    pin = PasswordField(
        N_("PIN"),
        validators=[
            DataRequired(N_("Type your PIN.")),
            Regexp(rf"^[0-9]{{{PIN_LENGTH}}}$", message=_l("A PIN is %(digits)s digits.", digits=PIN_LENGTH)),
        ],
        render_kw={**PIN_KEYBOARD, "autofocus": True},
    )
