"""The sandbox's retail cover: policy types, categories, eligibility, deterministic prices, taxes, words.

Every number here is made up for the sandbox and documented in the README; none is an XCover rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Any

CENT = Decimal("0.01")

CATEGORIES = ("electronics", "mobile_phones", "tablets", "computers", "appliances", "furniture", "jewellery")
TERMS = (12, 24, 36)
# A term's premium as a multiple of one year's.
TERM_FACTOR = {12: Decimal("1.00"), 24: Decimal("1.80"), 36: Decimal("2.50")}
# Purchases older than this many days are not eligible (cover must start near the sale).
MAX_PURCHASE_AGE_DAYS = 30
MIN_PREMIUM = Decimal("5.00")


@dataclass(frozen=True)
class PolicyType:
    """One retail policy type: what it covers, its price band and its annual rates by category."""

    code: str
    name: str
    version_uuid: str
    group: str
    min_price: Decimal
    max_price: Decimal
    annual_rates: dict[str, Decimal]
    title: str
    description: str
    inclusions: tuple[tuple[str, str], ...]
    exclusions: tuple[tuple[str, str], ...]
    benefits: tuple[tuple[str, str], ...]
    excess: Decimal
    # Days after booking within which a cancellation is refunded in full (XCover's differs by product).
    cooling_off_days: int = 30
    # An open-ended policy's answers carry null policy_end_date, duration and cover_amount, as retail ones may.
    open_ended: bool = False


POLICY_TYPES: dict[str, PolicyType] = {
    p.code: p
    for p in (
        PolicyType(
            code="product_warranty",
            name="Extended Warranty",
            group="retail",
            version_uuid="6f1c2a43-8d0b-4b8e-9d55-1a1c5e0a7a01",
            min_price=Decimal("20"),
            max_price=Decimal("5000"),
            annual_rates={
                "electronics": Decimal("0.080"),
                "mobile_phones": Decimal("0.100"),
                "tablets": Decimal("0.090"),
                "computers": Decimal("0.085"),
                "appliances": Decimal("0.060"),
                "furniture": Decimal("0.050"),
            },
            title="Extended Warranty",
            description="Repairs or replacement when your product breaks down after the manufacturer's warranty ends.",
            inclusions=(
                ("Mechanical and electrical breakdown", "Parts and labour for faults in normal use."),
                ("Replacement if not repairable", "A new product of the same or similar specification."),
                ("No excess", "Nothing to pay when you claim."),
            ),
            exclusions=(
                ("Accidental damage", "Drops, spills and cracked screens are not covered."),
                ("Theft or loss", "Not covered by a warranty."),
                ("Cosmetic damage", "Scratches and dents that do not stop the product working."),
            ),
            benefits=(("Repair or replacement", "Up to the purchase price"), ("Call-out and labour", "Included")),
            excess=Decimal("0"),
            cooling_off_days=30,
        ),
        PolicyType(
            code="product_insurance",
            name="Accidental Damage & Theft",
            group="retail",
            version_uuid="2b9d7c11-3f6e-4e0a-8a4c-5c7b1e2d9b02",
            min_price=Decimal("20"),
            max_price=Decimal("10000"),
            annual_rates={
                "electronics": Decimal("0.120"),
                "mobile_phones": Decimal("0.180"),
                "tablets": Decimal("0.150"),
                "computers": Decimal("0.130"),
                "jewellery": Decimal("0.070"),
                "furniture": Decimal("0.060"),
            },
            title="Accidental Damage & Theft Protection",
            description="Cover for accidental damage and theft of your purchase, at home and away.",
            inclusions=(
                ("Accidental damage", "Drops, spills and cracks."),
                ("Theft", "With a police report within 48 hours."),
                ("Worldwide cover", "Up to 60 days a year outside your home country."),
            ),
            exclusions=(
                ("Mechanical breakdown", "Covered by the manufacturer or an extended warranty."),
                ("Loss", "Items left unattended or lost are not covered."),
                ("Wear and tear", "Gradual deterioration in normal use."),
            ),
            benefits=(("Accidental damage", "Up to the purchase price"), ("Theft", "Up to the purchase price")),
            excess=Decimal("25"),
            cooling_off_days=28,
        ),
        PolicyType(
            code="device_protection",
            name="Device Protection",
            group="retail",
            version_uuid="9e4a0b7d-1c2f-4d3e-b6a5-7f8e9d0c1b03",
            min_price=Decimal("50"),
            max_price=Decimal("3000"),
            annual_rates={"mobile_phones": Decimal("0.200"), "tablets": Decimal("0.160")},
            title="Device Protection for Phones and Tablets",
            description="Screen, damage, breakdown and theft cover for your phone or tablet, with fast replacement.",
            inclusions=(
                ("Cracked screens", "Unlimited screen repairs."),
                ("Breakdown", "Outside the manufacturer's warranty."),
                ("Theft", "With a police report within 48 hours."),
                ("Next-day replacement", "Where stock allows."),
            ),
            exclusions=(
                ("Loss", "Devices lost or left unattended."),
                ("Cosmetic damage", "That does not affect use."),
                ("Software faults", "Viruses, apps and data recovery."),
            ),
            benefits=(("Screen repair", "Unlimited"), ("Replacement device", "Up to the purchase price")),
            excess=Decimal("50"),
            cooling_off_days=14,
            open_ended=True,
        ),
    )
}

UNDERWRITER = {
    "name": "Sandbox Underwriting Ltd",
    "disclaimer": "Sandbox Underwriting Ltd is a fictitious insurer used for testing; this is not a real policy.",
}

# Tax on the premium by customer country: (code, rate). Sandbox values, not real tax law.
TAXES: dict[str, tuple[tuple[str, Decimal], ...]] = {
    "GB": (("IPT", Decimal("0.12")),),
    "AU": (("GST", Decimal("0.10")), ("STAMP_DUTY", Decimal("0.09"))),
    "NZ": (("GST", Decimal("0.15")),),
    "US": (("PREMIUM_TAX", Decimal("0.05")),),
    "CA": (("PST", Decimal("0.08")),),
    "DE": (("VERSICHERUNGSTEUER", Decimal("0.19")),),
    "FR": (("TAXE_ASSURANCE", Decimal("0.09")),),
    "IE": (("LEVY", Decimal("0.03")),),
}

# How each currency writes money: (prefix, suffix, thousands separator, decimal separator).
CURRENCIES: dict[str, tuple[str, str, str, str]] = {
    "GBP": ("£", "", ",", "."),
    "AUD": ("A$", "", ",", "."),
    "NZD": ("NZ$", "", ",", "."),
    "USD": ("US$", "", ",", "."),
    "CAD": ("CA$", "", ",", "."),
    "EUR": ("", "\u00a0€", "\u202f", ","),
    "CHF": ("CHF\u00a0", "", "'", "."),
    "SGD": ("S$", "", ",", "."),
    "HKD": ("HK$", "", ",", "."),
}


def cents(value: Decimal) -> Decimal:
    """Round to cents, half up."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(amount: Decimal | float | int, currency: str) -> str:
    """Format money the currency's own way: £1,234.56, A$12.00, 1 234,56 €."""
    prefix, suffix, thousands, decimal_sep = CURRENCIES.get(currency, (f"{currency} ", "", ",", "."))
    value = cents(Decimal(str(amount)))
    sign = "-" if value < 0 else ""
    whole, frac = f"{abs(value):.2f}".split(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    return f"{sign}{prefix}{thousands.join(groups)}{decimal_sep}{frac}{suffix}"


def num(value: Decimal) -> float:
    """Money as a JSON number with two decimals, the way XCover sends it."""
    return float(cents(value))


def eligibility_error(policy: PolicyType, category: str, price: Decimal, purchase_age_days: int | None) -> str | None:
    """Return why an item cannot be covered by this policy type, or None if it can."""
    if category not in policy.annual_rates:
        return f"{policy.name} does not cover the category '{category}'."
    if price < policy.min_price or price > policy.max_price:
        return (
            f"{policy.name} covers products priced from {policy.min_price} to {policy.max_price}; "
            f"this product is {price}."
        )
    if purchase_age_days is not None and purchase_age_days > MAX_PURCHASE_AGE_DAYS:
        return f"The product was bought more than {MAX_PURCHASE_AGE_DAYS} days ago and can no longer be covered."
    return None


def price_item(
    policy: PolicyType, category: str, price: Decimal, quantity: int, term: int, country: str, currency: str
) -> dict[str, Any]:
    """Price one item: premium by rate, term and quantity (at least the minimum), plus the country's taxes."""
    premium = cents(max(MIN_PREMIUM, price * policy.annual_rates[category] * TERM_FACTOR[term]) * quantity)
    taxes = [(code, cents(premium * rate)) for code, rate in TAXES.get(country, ())]
    total_tax = sum((amount for _, amount in taxes), Decimal("0"))
    total = premium + total_tax
    return {
        "price": total,
        "premium": premium,
        "tax": {
            "total_tax": num(total_tax),
            "total_tax_formatted": fmt(total_tax, currency),
            "total_amount_without_tax": num(premium),
            "total_amount_without_tax_formatted": fmt(premium, currency),
            "taxes": [
                {"tax_amount": num(amount), "tax_code": code, "tax_amount_formatted": fmt(amount, currency)}
                for code, amount in taxes
            ],
        },
        "commission": premium * Decimal("0.25"),
    }


def disclaimer_html(policy: PolicyType) -> str:
    """The disclaimer as XCover sends it: HTML paragraphs, with entities and emphasis."""
    return (
        f"<p>{escape(policy.title)} is arranged by Cover Genius Ltd and underwritten by "
        f"<strong>{escape(UNDERWRITER['name'])}</strong>, a fictitious insurer used for testing.</p>"
        f"<p>Read the policy wording before you buy.<br>You can cancel within {policy.cooling_off_days} days "
        "for a full refund.</p>"
    )


def policy_block(policy: PolicyType, currency: str, price: Decimal) -> dict[str, Any]:
    """The quote's `policy` object: identity, content (HTML, no inclusions: they are not part of it) and underwriter."""
    return {
        "policy_type": policy.code,
        "policy_type_group_name": policy.group,
        "policy_name": policy.name,
        "policy_code": policy.code.upper(),
        "policy_version": policy.version_uuid,
        "category": "retail",
        "content": {
            "title": policy.title,
            "header": None,
            "description": f"<p>{escape(policy.description)}</p>",
            "optout_msg": "",
            # Older policy versions list inclusions here; current ones leave them to the wording (empty).
            "inclusions": [],
            "exclusions": [],
            "disclaimer": disclaimer_html(policy),
            "disclaimer_html": disclaimer_html(policy),
            "payment_disclaimer": "",
            "in_path_disclaimer": "",
        },
        "underwriter": dict(UNDERWRITER),
        "claim_selector_id": "",
    }


def benefits(policy: PolicyType, currency: str, price: Decimal) -> list[dict[str, Any]]:
    """The quote's `benefits[]`: limits in the quote currency, with the excess."""
    return [
        {
            "description": title,
            "limit": num(price),
            "limit_formatted": fmt(price, currency),
            "limit_policy_currency": num(price),
            "limit_policy_currency_formatted": fmt(price, currency),
            "limit_description": text,
            "excess": num(policy.excess),
            "excess_formatted": fmt(policy.excess, currency),
            "excess_description": "Per claim",
        }
        for title, text in policy.benefits
    ]
