"""The per-store, hash-chained audit log."""

from .service import record

__all__ = ["record"]
