"""CSV that a spreadsheet opens safely, after OWASP's CSV-injection guidance: a cell that would start a formula
(= + - @ tab, carriage return) gets a leading quote, a number stays a number, and every field but an empty one is
quoted, so that no list separator (`,` or, in many locales, `;`) can split a cell into a formula of its own."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")  # -1, +3.5, -1e-3: left alone


def escape_formula(value: Any) -> Any:
    """A quote before a text cell a spreadsheet would run as a formula; numbers and other cells unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """Rows (a header row too) as CSV text: formulas escaped, every field quoted but empty ones, which nothing can
    split or run (csv.QUOTE_ALL would triple the size of rows padded to a wide header)."""
    return "".join(",".join(_field(cell) for cell in row) + "\r\n" for row in rows)


def _field(value: Any) -> str:
    text = "" if value is None else str(escape_formula(value))
    return '"' + text.replace('"', '""') + '"' if text else ""
