"""The yardstick: a bare Flask app that answers "ok", served by the same gunicorn.conf.py as the portal."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def ok() -> str:
    """Answer "ok"."""
    return "ok"
