"""Sign-in form."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length


class SignInForm(FlaskForm):
    """Username and password."""

    username = StringField(
        "Username",
        validators=[DataRequired("Enter your username."), Length(max=64)],
        render_kw={
            "autocomplete": "username",
            "autocapitalize": "none",
            "autocorrect": "off",
            "spellcheck": "false",
            "autofocus": True,
        },
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Enter your password."), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField("Sign in")
