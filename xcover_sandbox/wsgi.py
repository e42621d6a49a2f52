"""The sandbox served alone: `gunicorn xcover_sandbox.wsgi:app`, `flask --app xcover_sandbox.wsgi ...`."""

from . import create_app

app = create_app()
