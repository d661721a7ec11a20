"""Errors that reach the user as one line: ``file:line: what is wrong, what was expected``.

Every mistake in a spec or on the command line raises a :class:`CostcalcError`; the CLI prints
``str(err)`` to stderr and exits with ``err.exit_code`` (2 for usage and spec errors). Nothing else
should escape to the user as a traceback.
"""
from __future__ import annotations

import os


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


class UsageError(CostcalcError):
    """A command-line request that cannot be honoured (unknown name, bad --set...)."""


class CountOverflowError(CostcalcError):
    """A count that would not fit in a signed 64-bit integer."""
