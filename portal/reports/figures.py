"""What a report holds: the figures per store, associate, currency, day, policy type and decline reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ..models import Store, User, utcnow
from ..vocab import DeclineReason, ReportPeriod
from .periods import Window

ZERO = Decimal("0.00")


def ratio(part: int, whole: int) -> Decimal | None:
    """Return part / whole as a fraction (None when there is no whole)."""
    return Decimal(part) / Decimal(whole) if whole else None


@dataclass
class Figures:
    """The figures of one store, associate or total, in one currency."""

    quoted: int = 0
    covered: int = 0
    policies: int = 0
    revenue: Decimal = ZERO
    tax: Decimal = ZERO
    declined: int = 0
    returns: int = 0
    refunded: Decimal = ZERO
    returns_in_cooling_off: int = 0
    exceptions: int = 0

    @property
    def attach_rate(self) -> Decimal | None:
        """Sales with cover / customers quoted."""
        return ratio(self.covered, self.quoted)

    @property
    def revenue_ex_tax(self) -> Decimal:
        """Cover revenue less its tax."""
        return self.revenue - self.tax

    @property
    def average(self) -> Decimal | None:
        """Cover revenue (with tax) per sale with cover."""
        return (self.revenue / self.covered).quantize(Decimal("0.01")) if self.covered else None

    @property
    def cooling_off_share(self) -> Decimal | None:
        """Returns made inside the cooling-off period / returns."""
        return ratio(self.returns_in_cooling_off, self.returns)

    def add(self, other: Figures) -> None:
        """Add another group's figures (same currency) to these."""
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class AssociateRow:
    """One person's figures in one currency."""

    store: Store
    associate: User
    currency: str
    figures: Figures


@dataclass(frozen=True)
class StoreRow:
    """One store's figures in one currency."""

    store: Store
    currency: str
    figures: Figures


@dataclass(frozen=True)
class DayRow:
    """One local day: customers quoted and sales with cover (counts, so every currency together)."""

    day: date
    quoted: int
    covered: int

    @property
    def attach_rate(self) -> Decimal | None:
        """Sales with cover / customers quoted that day."""
        return ratio(self.covered, self.quoted)


@dataclass(frozen=True)
class PolicyTypeRow:
    """Policies of one type sold in one currency, and their revenue."""

    policy_type: str
    currency: str
    policies: int
    revenue: Decimal
    tax: Decimal

    @property
    def revenue_ex_tax(self) -> Decimal:
        """Revenue less tax."""
        return self.revenue - self.tax


@dataclass(frozen=True)
class DeclineRow:
    """Products declined for one reason, and the customers who gave it."""

    reason: DeclineReason
    products: int
    customers: int
    share: Decimal | None


@dataclass
class Report:
    """Every table of the Reports screen for one or more stores over one period."""

    period: ReportPeriod
    windows: list[Window]
    stores: list[Store]
    by_store: list[StoreRow] = field(default_factory=list)
    totals: list[tuple[str, Figures]] = field(default_factory=list)
    by_associate: list[AssociateRow] = field(default_factory=list)
    days: list[DayRow] = field(default_factory=list)
    policy_types: list[PolicyTypeRow] = field(default_factory=list)
    declines: list[DeclineRow] = field(default_factory=list)

    @property
    def first(self) -> date:
        """Return the earliest local date the report covers (today in UTC when there is no store yet)."""
        return min((w.first for w in self.windows), default=utcnow().date())

    @property
    def last(self) -> date:
        """Return the latest local date the report covers (today in UTC when there is no store yet)."""
        return max((w.last for w in self.windows), default=utcnow().date())

    @property
    def quoted(self) -> int:
        """Return the customers quoted in every store and currency."""
        return sum(row.figures.quoted for row in self.by_store)
