"""Which request keys XCover knows: those the reference documents and those the recorded requests show.

Keys are paths: `policyholder.email`, `request[].policy_type`, `quotes[].insured[].age`. The retail item
(`request[]` and `update_fields`) is the one place where configuration decides: its keys are the documented
common ones, the recorded ones, and those of the configured item template (documented as UNCONFIRMED).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from portal.xcover.recording import load

RECORDED = Path(__file__).resolve().parent / "recorded"

# xcover-api.md §7.1: policyholder and insured fields (metadata on the insured only).
PERSON = (
    "first_name",
    "middle_name",
    "last_name",
    "email",
    "secondary_email",
    "phone",
    "country",
    "region",
    "city",
    "postcode",
    "address1",
    "address2",
    "age",
    "birth_date",
    "company",
)
# xcover-api.md §5.2: every item has these; the rest depends on the policy type.
ITEM_COMMON = ("policy_type", "policy_type_version", "policy_start_date")
ITEM = "<item>"
ANY = "*"

# xcover-api.md, by operation: the request keys it documents (ITEM stands for an item's keys, ANY for free keys).
DOCUMENTED: dict[str, tuple[str, ...]] = {
    # §5.1 (partner_transaction_id and the Elements fields are UNCONFIRMED for /quotes/, so not listed).
    "create_quote": (
        "request",
        f"request[].{ITEM}",
        "currency",
        "customer_country",
        "customer_region",
        "customer_language",
    ),
    # §5.4
    "update_quote": (
        "currency",
        "customer_country",
        "customer_region",
        "customer_language",
        "request",
        "request[].quote_id",
        f"request[].{ITEM}",
    ),
    # §1.2 and §5.1: partner_metadata on opt-out, flat key -> scalar pairs ([REDOC]).
    "opt_out": ("partner_metadata", f"partner_metadata.{ANY}"),
    # §7.1
    "create_booking": (
        "quotes",
        "quotes[].id",
        "quotes[].insured",
        *(f"quotes[].insured[].{k}" for k in (*PERSON, "metadata")),
        f"quotes[].insured[].metadata.{ANY}",
        "quotes[].instalment_plan",
        "policyholder",
        *(f"policyholder.{k}" for k in PERSON),
        "require_payment_confirmation",
        "customer_token_id",
    ),
    # §12 deferred confirmation and §14: bodies are {}.
    "confirm_booking": (),
    "confirm_update": (),
    "confirm_cancellation": (),
    # §14.2
    "modify_booking": (
        "policyholder",
        *(f"policyholder.{k}" for k in PERSON),
        "quotes",
        "quotes[].id",
        "quotes[].update_fields",
        f"quotes[].update_fields.{ITEM}",
    ),
    "quote_for_update": (
        "quotes",
        "quotes[].id",
        "quotes[].update_fields",
        f"quotes[].update_fields.{ITEM}",
    ),
    # §14.1
    "cancel": ("preview", "quotes", "quotes[].id", "quotes[].reason_for_cancellation"),
    # §1.2
    "send_email": ("event",),
}


def key_paths(body: Any, prefix: str = "") -> set[str]:
    """Every key path in a JSON body."""
    paths: set[str] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.add(path)
            paths |= key_paths(value, path)
    elif isinstance(body, list):
        for value in body:
            paths |= key_paths(value, f"{prefix}[]")
    return paths


def recorded_paths(directory: Path = RECORDED) -> dict[str, set[str]]:
    """The request key paths the recorded calls show, by operation."""
    found: dict[str, set[str]] = {}
    for recorded in load(directory):
        if recorded.call.operation:
            found.setdefault(recorded.call.operation, set()).update(key_paths(recorded.call.request_body))
    return found


def _item_paths(paths: Iterable[str]) -> set[str]:
    """Item keys as recorded: whatever follows request[]. or update_fields."""
    items: set[str] = set()
    for path in paths:
        for marker in ("request[].", "update_fields."):
            if marker in path:
                items.add(path.split(marker, 1)[1])
    return items


def undocumented(operation: str, body: Any, template_keys: Iterable[str]) -> list[str]:
    """The key paths of a request body that neither the reference nor the recordings show (sorted)."""
    recorded = recorded_paths()
    known = set(DOCUMENTED.get(operation, ())) | recorded.get(operation, set())
    item_keys = {*ITEM_COMMON, *template_keys, *_item_paths(p for ps in recorded.values() for p in ps)}
    unknown = []
    for path in sorted(key_paths(body)):
        if path in known or _matches(path, known, item_keys):
            continue
        unknown.append(path)
    return unknown


def _matches(path: str, known: set[str], item_keys: set[str]) -> bool:
    """Tell whether a path is known through an <item> or * placeholder."""
    for pattern in known:
        if (
            pattern.endswith(f".{ANY}")
            and path.startswith(pattern[: -len(ANY)])
            and "." not in path[len(pattern) - 1 :]
        ):
            return True
        if pattern.endswith(ITEM):
            head = pattern[: -len(ITEM)]
            if path.startswith(head) and path[len(head) :] in item_keys:
                return True
    return False
