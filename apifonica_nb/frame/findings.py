"""Findings: what the builder ruled out, counted per field, and the one place that warns.

Building a frame never warns (``warnings.catch_warnings`` is process-wide and not
thread-safe, so nobody should need it to silence a builder): the builder returns
:class:`Finding` objects, and only the public edge turns them into warnings, once per field.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import DataQualityWarning

__all__ = ["Finding", "FindingCounter", "example_of", "shorten", "warn_findings"]

_EXAMPLE_WIDTH = 40
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Finding:
    """One problem of one field in one frame: how many rows, out of how many, an example.

    ``what`` completes the sentence "``rows`` of ``total`` ...", e.g. "values were not RFC
    2822 dates and became NA". ``example`` is one offending value, shortened and (for phone
    numbers) with most digits masked, ready to print.
    """

    field: str
    rows: int
    total: int
    what: str
    example: str = ""

    def clause(self) -> str:
        """Return the finding without its field name: "3 of 10 values were ..."."""
        text = f"{self.rows} of {self.total} {self.what}"
        return f"{text} (e.g. {self.example})" if self.example else text

    def message(self) -> str:
        """Return the finding as one sentence that starts with the field's name."""
        return f"{self.field}: {self.clause()}"


def shorten(text: str) -> str:
    """Cut printable ``text`` to about 40 characters for a message."""
    return text if len(text) <= _EXAMPLE_WIDTH else text[: _EXAMPLE_WIDTH - 3] + "..."


def example_of(value: Any, *, mask_digits: bool = False) -> str:
    """Return ``value`` as a short, printable example for a message (at most ~40 characters).

    ``mask_digits`` replaces every digit after the first three with ``x``, so a phone
    number that was refused is recognisable but not disclosed.
    """
    if isinstance(value, str) and len(value) > _EXAMPLE_WIDTH:
        value = value[:_EXAMPLE_WIDTH]  # repr() of a megabyte string is not needed
    shown = repr(value)
    if mask_digits:
        seen = iter(range(10**6))
        shown = _DIGIT.sub(lambda m: m[0] if next(seen) < 3 else "x", shown)
    return shorten(shown)


class FindingCounter:
    """Collect the findings of one frame as it is built (one per field and kind of problem)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._found: dict[tuple[str, str], tuple[int, str]] = {}

    def add(self, field: str, rows: int, what: str, example: str = "") -> None:
        """Count ``rows`` more values of ``field`` that ``what`` describes (0 is ignored)."""
        if rows:
            count, first = self._found.get((field, what), (0, example))
            self._found[(field, what)] = (count + rows, first or example)

    def findings(self) -> list[Finding]:
        """Return what was counted, in the order it was first found."""
        return [
            Finding(field, rows, self.total, what, example)
            for (field, what), (rows, example) in self._found.items()
        ]


def warn_findings(findings: Iterable[Finding], *, stacklevel: int = 1) -> None:
    """Emit one :class:`~apifonica_nb.errors.DataQualityWarning` per field of ``findings``.

    Findings of one field are joined into one message, so a million bad prices make one
    line. ``stacklevel`` counts as for :func:`warnings.warn`, from the caller of this
    function: 1 points at the caller's line, 2 at its caller's.
    """
    by_field: dict[str, list[Finding]] = {}
    for finding in findings:
        by_field.setdefault(finding.field, []).append(finding)
    for field, group in by_field.items():
        text = f"{field}: " + "; ".join(f.clause() for f in group)
        warnings.warn(text, DataQualityWarning, stacklevel=stacklevel + 1)
