"""WSGI and CLI entry point: `gunicorn app:app`, `flask <command>`."""
from portal import create_app

app = create_app()
