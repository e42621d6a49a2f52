"""The per-store, hash-chained audit log."""
from .service import record  # noqa: F401
