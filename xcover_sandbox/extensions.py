"""The sandbox's own database handle and metadata, apart from any application that mounts it."""

from __future__ import annotations

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base for the sandbox's tables."""


db = SQLAlchemy(model_class=Base)
