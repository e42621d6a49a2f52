"""Embedded XCover sandbox."""
from flask import Flask


def init_app(app: Flask) -> None:
    """Placeholder until the sandbox lands."""
