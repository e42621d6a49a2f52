"""The portal's closed vocabularies: each a StrEnum whose members carry the words people see.

The values are what the database and the audit chain store, so they never change once released;
the labels (and, for statuses, the badge tone) may.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class RichStrEnum(StrEnum):
    """A StrEnum whose members also carry a label: `DRAFT = "draft", "Not quoted yet"`."""

    label: str

    def __new__(cls, value: str, label: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        """Return (value, label) pairs, in definition order, for a form's choices."""
        return [(m.value, m.label) for m in cls]

    @classmethod
    def get(cls, value: object) -> Self | None:
        """Return the member with this value, or None (never raises)."""
        return cls._value2member_map_.get(value) if isinstance(value, str) else None  # type: ignore[return-value]

    @classmethod
    def label_of(cls, value: str) -> str:
        """Return the label of a value, or the value itself when it is not a member (old data)."""
        member = cls.get(value)
        return member.label if member is not None else value

    @classmethod
    def sql_in(cls, column: str) -> str:
        """Return the CHECK constraint text that allows exactly these values."""
        return f"{column} IN ({', '.join(repr(m.value) for m in cls)})"


class TonedStrEnum(RichStrEnum):
    """A vocabulary of states, each with a label and a badge tone: neutral, wait, ok or bad."""

    tone: str

    def __new__(cls, value: str, label: str, tone: str = "neutral") -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        member.tone = tone
        return member


class Role(RichStrEnum):
    """Who a person is in the portal."""

    ASSOCIATE = "associate", "Associate"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


class SaleStatus(TonedStrEnum):
    """Where a sale stands (the status machine is in portal/sales/machine.py)."""

    DRAFT = "draft", "Not quoted yet"
    QUOTED = "quoted", "Options shown"
    DECLINED = "declined", "Declined"
    BOOKING = "booking", "Not yet confirmed, checking", "wait"
    BOOKED = "booked", "Covered", "ok"
    OUTCOME_UNKNOWN = "outcome_unknown", "Not yet confirmed, checking", "wait"
    FAILED = "failed", "Not covered", "bad"
    # Every policy of the sale was cancelled (a return, or at XCover); a partial cancellation stays booked.
    CANCELLED = "cancelled", "Cover cancelled"


class CoverStatus(TonedStrEnum):
    """What became of one option XCover offered."""

    QUOTED = "quoted", "Offered"
    CHOSEN = "chosen", "Not yet confirmed", "wait"
    NOT_TAKEN = "not_taken", "Not taken"
    BOOKED = "booked", "Covered", "ok"
    FAILED = "failed", "Not covered", "bad"
    # After the sale (portal/policies/returns.py): still in force while a return waits; then cancelled.
    RETURNING = "returning", "Covered, return pending", "ok"
    CANCELLING = "cancelling", "Being cancelled, checking", "wait"
    CANCELLED = "cancelled", "Cancelled"


class ReturnStatus(TonedStrEnum):
    """Where a return (cancelling policies for a refund) stands; its machine is in portal/policies/returns.py."""

    PREVIEWED = "previewed", "Awaiting manager approval", "wait"
    APPROVED = "approved", "Approved, not yet cancelled", "wait"
    CONFIRMING = "confirming", "Cancellation sent, checking", "wait"
    CONFIRMED = "confirmed", "Cancelled and refunded", "ok"
    REFUSED = "refused", "Refused by a manager", "bad"
    EXPIRED = "expired", "Preview expired", "bad"
    FAILED = "failed", "Refused by XCover", "bad"
    WITHDRAWN = "withdrawn", "Withdrawn"


class ReturnReason(RichStrEnum):
    """Why the customer brings the cover back (sent to XCover as the reason for cancellation)."""

    PRODUCT_RETURNED = "product_returned", "Product returned"
    CHANGED_MIND = "changed_mind", "Customer changed their mind"
    BOUGHT_TWICE = "bought_twice", "Cover bought twice"
    OTHER = "other", "Other"


class CorrectionStatus(TonedStrEnum):
    """Where a correction of a booked product's details stands (portal/policies/corrections.py)."""

    QUOTED = "quoted", "Priced, not yet applied", "wait"
    CONFIRMING = "confirming", "Sent, checking", "wait"
    CONFIRMED = "confirmed", "Applied", "ok"
    FAILED = "failed", "Refused by XCover", "bad"
    DISCARDED = "discarded", "Discarded"


class Decision(RichStrEnum):
    """The customer's answer for one product."""

    ADD = "add", "Add"
    DECLINE = "decline", "No thanks"


class DeclineReason(RichStrEnum):
    """Why the customer said no thanks."""

    ALREADY_COVERED = "already_covered", "Already covered"
    TOO_EXPENSIVE = "too_expensive", "Too expensive"
    NOT_INTERESTED = "not_interested", "Not interested"
    DECIDE_LATER = "decide_later", "Will decide later"
    OTHER = "other", "Other"


class PaymentMethod(RichStrEnum):
    """How the customer paid at the till."""

    CARD = "card", "Card"
    CASH = "cash", "Cash"
    OTHER = "other", "Other"


class PersonState(TonedStrEnum):
    """Where a person's account stands, as the People screen shows it (worked out, never stored)."""

    ACTIVE = "active", "Active", "ok"
    TEMPORARY = "temporary", "Must choose a password", "wait"
    LOCKED = "locked", "Locked", "bad"
    DISABLED = "disabled", "Disabled", "neutral"


class CatalogueStatus(TonedStrEnum):
    """Where a version of the offer catalogue stands: drafted, in use, or replaced by a later one."""

    DRAFT = "draft", "Draft", "wait"
    PUBLISHED = "published", "In use", "ok"
    RETIRED = "retired", "Replaced", "neutral"
    DISCARDED = "discarded", "Discarded", "neutral"


class LineCheck(TonedStrEnum):
    """What XCover said when a catalogue line's sample product was quoted."""

    UNCHECKED = "unchecked", "Not checked yet", "wait"
    ACCEPTED = "accepted", "XCover quotes it", "ok"
    REFUSED = "refused", "XCover refused it", "bad"


class AuditResult(TonedStrEnum):
    """How an audited action ended."""

    SUCCESS = "success", "Success", "ok"
    FAILURE = "failure", "Failure", "bad"
    PENDING = "pending", "Pending", "wait"


class AuditAction(RichStrEnum):
    """Everything the audit log records; record() refuses anything else so reports and filters stay meaningful."""

    SIGN_IN = "auth.sign_in", "Signed in"
    SIGN_IN_FAILED = "auth.sign_in_failed", "Sign-in failed"
    SIGN_OUT = "auth.sign_out", "Signed out"
    LOCKED = "auth.locked", "Account locked"
    STORE_CREATED = "store.created", "Store created"
    USER_CREATED = "user.created", "Person added"
    AUDIT_VIEWED = "audit.viewed", "Audit log viewed"
    AUDIT_EXPORTED = "audit.exported", "Audit log exported"
    SALE_SAVED = "sale.saved", "Customer and products saved"
    SALE_QUOTED = "sale.quoted", "Quoted by XCover"
    SALE_QUOTE_FAILED = "sale.quote_failed", "Quote failed"
    SALE_OPTIONS_SHOWN = "sale.options_shown", "Options shown"
    SALE_ACKNOWLEDGED = "sale.acknowledged", "Key facts acknowledged"
    SALE_DECLINED = "sale.declined", "Cover declined"
    SALE_OPTED_OUT = "sale.opted_out", "Opt-out sent to XCover"
    SALE_PAYMENT_RECORDED = "sale.payment_recorded", "Payment recorded"
    SALE_BOOKING_SENT = "sale.booking_sent", "Booking sent"
    SALE_BOOKED = "sale.booked", "Booked"
    SALE_BOOKING_FAILED = "sale.booking_failed", "Booking failed"
    SALE_OUTCOME_UNKNOWN = "sale.outcome_unknown", "Booking outcome unknown"
    SALE_RECONCILED = "sale.reconciled", "Booking outcome settled"
    SALE_EMAIL_RESENT = "sale.email_resent", "Confirmation email resent"
    # Administration (issue 10): people, stores, the offer catalogue, one's own password.
    PASSWORD_CHANGED = "auth.password_changed", "Password changed"
    STORE_UPDATED = "store.updated", "Store settings changed"
    STORE_DEACTIVATED = "store.deactivated", "Store deactivated"
    STORE_REACTIVATED = "store.reactivated", "Store reactivated"
    USER_DISABLED = "user.disabled", "Person disabled"
    USER_ENABLED = "user.enabled", "Person re-enabled"
    USER_UNLOCKED = "user.unlocked", "Person unlocked"
    USER_PASSWORD_RESET = "user.password_reset", "Temporary password set"
    USER_SIGNED_OUT = "user.signed_out", "Person signed out everywhere"
    CATALOGUE_DRAFTED = "catalogue.drafted", "Catalogue draft started"
    CATALOGUE_EDITED = "catalogue.edited", "Catalogue draft changed"
    CATALOGUE_CHECKED = "catalogue.checked", "Catalogue checked with XCover"
    CATALOGUE_PUBLISHED = "catalogue.published", "Catalogue published"
    CATALOGUE_DISCARDED = "catalogue.discarded", "Catalogue draft discarded"
    RETURN_REQUESTED = "return.requested", "Return requested"
    RETURN_PREVIEWED = "return.previewed", "Refund previewed by XCover"
    RETURN_PREVIEW_FAILED = "return.preview_failed", "Refund preview failed"
    RETURN_APPROVED = "return.approved", "Return approved"
    RETURN_REFUSED = "return.refused", "Return refused"
    RETURN_APPROVAL_DENIED = "return.approval_denied", "Return approval not allowed"
    RETURN_CONFIRMED = "return.confirmed", "Cancellation confirmed by XCover"
    RETURN_REFUNDED = "return.refunded", "Refund given"
    RETURN_OUTCOME_UNKNOWN = "return.outcome_unknown", "Cancellation outcome unknown"
    RETURN_FAILED = "return.failed", "Cancellation failed"
    RETURN_EXPIRED = "return.expired", "Refund preview expired"
    RETURN_WITHDRAWN = "return.withdrawn", "Return withdrawn"
    CORRECTION_QUOTED = "correction.quoted", "Correction priced by XCover"
    CORRECTION_CONFIRMED = "correction.confirmed", "Correction applied"
    CORRECTION_FAILED = "correction.failed", "Correction failed"
    CORRECTION_DISCARDED = "correction.discarded", "Correction discarded"
    CORRECTION_OUTCOME_UNKNOWN = "correction.outcome_unknown", "Correction outcome unknown"
    SALE_REFUND_RECORDED = "sale.refund_recorded", "Refund for cover not booked recorded"
    XCOVER_BOOKING_UPDATED = "xcover.booking_updated", "Booking updated at XCover"
    XCOVER_BOOKING_CANCELLED = "xcover.booking_cancelled", "Booking cancelled at XCover"
