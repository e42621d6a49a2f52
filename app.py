"""WSGI and CLI entry point: `gunicorn app:app`, `flask <command>` (the portal, with the sandbox when enabled)."""

from stack import create_stack

app = create_stack()
