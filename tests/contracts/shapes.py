"""Comparing JSON shapes: does an answer have at least every key of XCover's, at the same nesting and type?

Rules (a recorded answer is one example of XCover's shape, not a schema):
- every key of a recorded object must be in the answer's object, checked recursively;
- an object keyed "0", "1", ... (the quote package's quotes) is a map: each answer value must have the
  shape all recorded values share;
- a list's elements must have the keys every recorded element has (an empty list matches any list);
- JSON types must agree (numbers are one type); a null on either side of a scalar matches, because a
  null says nothing of the type, but an answer's null where XCover sends an object or a list does not.
"""

from __future__ import annotations

from typing import Any


def kind(value: Any) -> str:
    """The JSON type of a value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _index_keyed(value: dict[str, Any]) -> bool:
    """Tell whether an object is keyed "0", "1", ... (a map by position)."""
    return bool(value) and all(str(k).isdigit() for k in value)


def common(values: list[Any]) -> Any:
    """The shape every non-null value shares: objects keep only the keys all of them have."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, dict) for v in present):
        if all(_index_keyed(v) for v in present):
            return {"0": common([item for v in present for item in v.values()])}
        keys = set(present[0]).intersection(*present[1:])
        return {k: common([v[k] for v in present]) for k in present[0] if k in keys}
    if all(isinstance(v, list) for v in present):
        element = common([item for v in present for item in v])
        return [element] if element is not None else []
    return present[0]


def problems(expected: Any, actual: Any, path: str = "$") -> list[str]:
    """Where `actual` lacks a key of `expected` or has another type (empty when it has at least its shape)."""
    if expected is None:
        return []
    if actual is None:
        if isinstance(expected, (dict, list)):
            return [f"{path}: null where XCover sends an {kind(expected)}"]
        return []
    if kind(expected) != kind(actual):
        return [f"{path}: {kind(actual)} where XCover sends a {kind(expected)}"]
    found: list[str] = []
    if isinstance(expected, dict):
        if _index_keyed(expected):
            template = common(list(expected.values()))
            for key, value in actual.items():
                found += problems(template, value, f"{path}.{key}")
            return found
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{path}.{key}: missing")
            else:
                found += problems(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        template = common(expected)
        for index, value in enumerate(actual):
            found += problems(template, value, f"{path}[{index}]")
    return found


def envelope_problems(expected: Any, actual: Any) -> list[str]:
    """For error answers: the same top-level keys and types (what inside `errors` depends on the request)."""
    if not isinstance(expected, dict):
        return [] if kind(expected) == kind(actual) else [f"$: {kind(actual)} where XCover sends {kind(expected)}"]
    if not isinstance(actual, dict):
        return [f"$: {kind(actual)} where XCover sends an object"]
    found = []
    for key, value in expected.items():
        if key not in actual:
            found.append(f"$.{key}: missing")
        elif value is not None and actual[key] is not None and kind(value) != kind(actual[key]):
            found.append(f"$.{key}: {kind(actual[key])} where XCover sends a {kind(value)}")
    return found
