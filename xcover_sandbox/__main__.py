"""`python -m xcover_sandbox fault|clear-faults|purge ...` against the configured sandbox database."""

from . import create_app
from .cli import commands

if __name__ == "__main__":
    commands(create_app())(prog_name="python -m xcover_sandbox")
