"""Every test builds a fresh app, and each app compiles the same URL builders and templates again: compile once.

Werkzeug compiles Python code for each URL rule of an app, and Jinja compiles each template the first time an app
renders it; together they were most of a typical test's time. A rule's builder depends only on the rule's text,
parsed parts, defaults and whether unknown arguments are appended, and reaches the rule it serves through its first
argument, so one compiled builder serves the same rule in every app. Templates share one in-memory bytecode cache,
which Jinja checks against each template's source. Tests only: the product builds its app once per process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from jinja2.environment import Environment
from werkzeug.routing.rules import Rule

_compile_builder = Rule._compile_builder
_create_jinja_environment = Flask.create_jinja_environment
_builders: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}


def _cached_compile_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    """Werkzeug's builder for this rule, compiled once per distinct rule."""
    key = (self.rule, tuple(self._trace), repr(sorted((self.defaults or {}).items())), append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _compile_builder(self, append_unknown)
    return builder


class _Templates(BytecodeCache):
    """Compiled templates kept in memory for the run (a changed source fails Jinja's checksum and compiles anew)."""

    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        """Fill the bucket from memory when the template was compiled before."""
        code = self.compiled.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep a template just compiled."""
        self.compiled[bucket.key] = bucket.bytecode_to_string()


_TEMPLATES = _Templates()


def _jinja_environment_with_cache(self: Flask) -> Environment:
    """Flask's Jinja environment, sharing the run's compiled templates."""
    env = _create_jinja_environment(self)
    env.bytecode_cache = _TEMPLATES
    return env


def install() -> None:
    """Compile each distinct URL rule and template once for the whole run."""
    Rule._compile_builder = _cached_compile_builder  # type: ignore[method-assign]
    Flask.create_jinja_environment = _jinja_environment_with_cache  # type: ignore[method-assign]
