"""A second yardstick: the least a signed-in, server-rendered Flask page does, on the portal's own stack.

The person comes from the session and the database (Flask-Login, Flask-SQLAlchemy), the page lists 20 rows of one
query, holds a two-field form with its CSRF token (Flask-WTF), says 40 words through Flask-Babel's gettext, and goes
out compressed as the portal's do (Flask-Compress, Brotli level 1). No audit, no sale, no XCover: what any screen of
the portal pays before it does its own work. bench.http loads it beside the bare app, so a screen's ratio can be read
against what the stack itself allows.

Served by the same gunicorn.conf.py: `gunicorn --config gunicorn.conf.py bench.typical:app`, with
TYPICAL_DATABASE_URL (default: an SQLite file in the system's temporary directory) made by prepare(), and GET
/start to sign in.
"""

from __future__ import annotations

import os
import tempfile

import sqlalchemy as sa
from flask import Flask, redirect, render_template
from flask_babel import Babel
from flask_compress import Compress
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from jinja2 import DictLoader
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.wrappers import Response
from wtforms import IntegerField, StringField

from portal.i18n import TRANSLATIONS


class Base(DeclarativeBase):
    """The models' base."""


db = SQLAlchemy(model_class=Base)
login = LoginManager()


class Person(UserMixin, db.Model):
    """A signed-in person."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80))


class Row(db.Model):
    """One line of the page's list."""

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(80))
    amount: Mapped[int] = mapped_column()


class SearchForm(FlaskForm):
    """A two-field form."""

    q = StringField("Search")
    limit = IntegerField("How many")


WORDS = [f"Word number {i}" for i in range(40)]
PAGE = """<!doctype html><html lang="en"><head><title>{{ _("Store Cover Portal") }}</title></head><body>
<header><span>{{ current_user.name }}</span>{% for w in words[:10] %}<a href="/">{{ _(w) }}</a>{% endfor %}</header>
<main><h1>{{ _("Today") }}</h1>
<form method="post">{{ form.csrf_token }}{{ form.q.label }} {{ form.q() }}{{ form.limit.label }} {{ form.limit() }}
<button>{{ _("Search") }}</button></form>
<table>{% for row in rows %}<tr><td>{{ row.title }}</td><td>{{ row.amount }}</td><td>{{ _(words[loop.index0])
}}</td></tr>{% endfor %}</table>
{% for w in words[20:29] %}<p>{{ _(w) }}</p>{% endfor %}</main></body></html>"""


def create_app(url: str) -> Flask:
    """The typical app on a database."""
    app = Flask(__name__)
    app.jinja_loader = DictLoader({"page.html": PAGE})  # compiled once, as the portal's templates are
    app.config.update(
        SECRET_KEY="bench-typical-secret",
        SQLALCHEMY_DATABASE_URI=url,
        BABEL_DEFAULT_LOCALE="en_GB",
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_BR_LEVEL=1,
    )
    db.init_app(app)
    login.init_app(app)
    CSRFProtect(app)
    Babel(app)
    Compress(app)
    app.add_url_rule("/healthz", view_func=healthz)
    app.add_url_rule("/start", view_func=start)
    app.add_url_rule("/", view_func=page)
    return app


def prepare(url: str) -> None:
    """Create the tables and the rows (before gunicorn starts: its workers would race to)."""
    app = create_app(url)
    with app.app_context():
        db.create_all()
        db.session.add(Person(id=1, name="Alex"))
        db.session.add_all(Row(title=f"Sale {i}", amount=i * 100) for i in range(40))
        db.session.commit()
        db.engine.dispose()


@login.user_loader
def load_person(person_id: str) -> Person | None:
    """Load the signed-in person."""
    return db.session.get(Person, int(person_id))


def healthz() -> str:
    """Answer "ok" (gunicorn is up)."""
    return "ok"


def start() -> Response:
    """Sign in as the one person (a benchmark has no passwords)."""
    login_user(db.session.get(Person, 1))
    return redirect("/")


@login_required
def page() -> str:
    """The typical page."""
    rows = db.session.scalars(sa.select(Row).order_by(Row.id.desc()).limit(20)).all()
    return render_template("page.html", rows=rows, form=SearchForm(), words=WORDS, current_user=current_user)


app = create_app(
    os.environ.get("TYPICAL_DATABASE_URL", f"sqlite:///{os.path.join(tempfile.gettempdir(), 'bench-typical.db')}")
)
