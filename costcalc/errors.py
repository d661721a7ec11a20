"""Errors that reach the user as one line: ``file:line: what is wrong, what was expected``.

Every mistake in a spec or on the command line raises a :class:`CostcalcError`; the CLI prints
``str(err)`` to stderr and exits with ``err.exit_code`` (2 for usage and spec errors). Nothing else
should escape to the user as a traceback.
"""
from __future__ import annotations

import os

# Every limit on spec input, in one place (specs/README.md "Limits" lists them). Each bounds the
# time or memory a small hostile file could otherwise demand; real specs stay far below.
LIMITS = {
    "spec_bytes": 16 * 1024 * 1024,   # a spec file's size: the largest real spec is ~40 KB
    "yaml_depth": 64,                 # YAML nesting: real specs nest 6 deep; the parser recurses
    "yaml_aliases": 1000,             # uses of *alias: more is generated text, not a spec
    "yaml_alias_nodes": 100_000,      # YAML values copied by aliases in all: stops alias bombs
    "layers": 2_000_000,              # layers per expanded spec (~400 B each: ~1 GB at the limit)
    "expansion_steps": 5_000_000,     # rows evaluated while expanding, skipped rows included
    "block_depth": 16,                # blocks inside blocks (a block that calls itself)
    "expr_chars": 1000,               # source of one ${...} expression: real ones are < 100
    "string_chars": 10_000,           # a string value made by an expression or interpolation
    "list_items": 10_000,             # a list value made by an expression
    "name_chars": 256,                # one full layer name (Keras names are < 60)
    "int_bits": 63,                   # integers: signed 64-bit, like every count (|v| < 2^63)
    "message_value_chars": 80,        # how much of a value an error message echoes
}


def _shown_path(path) -> str:
    if path is None:
        return "<input>"
    path = str(path)
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return rel if not rel.startswith("..") else path


class CostcalcError(Exception):
    """A user-facing error. ``exit_code`` 2: bad spec or usage; 1: a check that failed."""

    exit_code = 2

    def __init__(self, message: str, path=None, line: int | None = None):
        self.message = message
        self.path = path
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        where = _shown_path(self.path)
        if self.line:
            where += f":{self.line}"
        return f"{where}: {self.message}"


class SpecError(CostcalcError):
    """A spec file that cannot be loaded or evaluated."""


class SpecErrors(SpecError):
    """Every error found in one pass over a spec, reported at once: one ``file:line: ...`` line
    each, in line order, the same error of a repeated row once (at most MAX_SHOWN lines)."""

    MAX_SHOWN = 20

    def __init__(self, errors):
        seen, unique = set(), []
        for e in errors:
            key = (e.line, e.message)
            if key not in seen:
                seen.add(key)
                unique.append(e)
        self.errors = sorted(unique, key=lambda e: e.line or 0)
        first = self.errors[0]
        super().__init__(first.message, first.path, first.line)

    def __str__(self) -> str:
        lines = [CostcalcError.__str__(e) for e in self.errors[:self.MAX_SHOWN]]
        if len(self.errors) > self.MAX_SHOWN:
            lines.append(f"... and {len(self.errors) - self.MAX_SHOWN} more errors")
        return "\n".join(lines)


def raise_all(errors) -> None:
    """Raise the errors collected in one pass (nothing when there are none)."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise SpecErrors(errors)


class UsageError(CostcalcError):
    """A command-line request that cannot be honoured (unknown name, bad --set...)."""


class CountOverflowError(CostcalcError):
    """A count that would not fit in a signed 64-bit integer."""


def shown(value, limit: int = LIMITS["message_value_chars"]) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for messages that echo user input.

    Never builds the full text of a huge value: long strings and lists are cut before ``repr``,
    integers of more than 64 bits are described by their size, functions by a word."""
    text = _shown(value, limit, 3)
    if len(text) > 2 * limit:
        text = text[:2 * limit - 3] + "..."
    return text


def _shown(value, limit, level):
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 64:
            return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
        return repr(value)
    if isinstance(value, str):
        if len(value) > limit:
            return repr(value[:limit - 20]) + f"... ({len(value):,} characters)"
        return repr(value)
    if isinstance(value, (list, tuple)):
        if level <= 0:
            return "[...]"
        items = [_shown(v, limit, level - 1) for v in value[:6]]
        more = f", ... ({len(value)} items)" if len(value) > 6 else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(value, dict):
        if level <= 0:
            return "{...}"
        items = [f"{_shown(k, limit, 0)}: {_shown(v, limit, level - 1)}"
                 for k, v in list(value.items())[:4]]
        more = f", ... ({len(value)} keys)" if len(value) > 4 else ""
        return "{" + ", ".join(items) + more + "}"
    if callable(value):
        return "a function"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
