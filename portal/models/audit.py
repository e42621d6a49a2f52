"""The audit log's rows: the events and each chain's head."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class AuditChainHead(db.Model):
    """The last link of one audit chain (a store's, or head office's with key 0)."""

    __tablename__ = "audit_chain_head"

    chain_key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64))


class AuditEvent(db.Model):
    """One append-only, hash-chained record of something that happened."""

    __tablename__ = "audit_event"
    __table_args__ = (
        sa.UniqueConstraint("chain_key", "seq", name="uq_audit_chain_seq"),
        # The viewer's filters: a chain by time, by action, by actor, by object (migration 0004).
        sa.Index("ix_audit_chain_time", "chain_key", "occurred_at", "seq"),
        sa.Index("ix_audit_chain_action_time", "chain_key", "action", "occurred_at"),
        sa.Index("ix_audit_chain_actor_time", "chain_key", "actor_name", "occurred_at"),
        sa.Index("ix_audit_chain_object_time", "chain_key", "object_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    chain_key: Mapped[int] = mapped_column()
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    store_id: Mapped[int | None] = mapped_column(sa.ForeignKey("store.id"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    actor_name: Mapped[str | None] = mapped_column(sa.String(64))
    actor_role: Mapped[str | None] = mapped_column(sa.String(16))
    action: Mapped[str] = mapped_column(sa.String(48))
    object_type: Mapped[str | None] = mapped_column(sa.String(32))
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    result: Mapped[str] = mapped_column(sa.String(16))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    client_ip: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
