"""Metrics per slice of the rows: per value of a column of the file, or per slice proposed from the text
itself (length quartiles, with or without digits, writing system). A model that is good on average can be
poor on short texts or on Chinese; the gap to the whole file says where.

Each slice keeps the task's own tally (tallies.Tally): counts and sums, so a slice's accuracy is computed
exactly as the main table's, in memory that does not grow with the rows, and survives a continued run.
Slices that need the whole file first (quartiles) are fixed by a pass over it before the run.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..text import CJK
from .reading import column_position

MAX_SLICES = 20  # distinct values a slice column may have; a numeric column with more is cut into quartiles
CONFIDENT = 0.9  # a wrong prediction scored above this is a confident mistake
PROPOSED = ("length", "digits", "script")  # the slices proposed from the text, by name
EMPTY = "(empty)"
_DIGIT = re.compile(r"\d")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


@dataclass(frozen=True)
class SliceResult:
    column: str
    value: str
    rows: int
    metrics: dict[str, float]  # the task's metric names -> value on this slice
    intervals: dict[str, tuple[float, float]]  # 95% bootstrap intervals, where the task's metrics have them
    gaps: dict[str, float]  # metric on this slice minus on the whole file
    confident_wrong: float | None  # share of rows predicted wrong with a score above CONFIDENT; None without scores


# --- which slice each row is in -------------------------------------------------------------------


class Quartiles:
    """A value's quartile among all the values seen in a first pass, named by the range of values in it:
    "Q1 (3–17)". Values equal to an edge stay below it, so repeated values never split; fewer than four
    bins remain when values repeat."""

    def __init__(self, values: Iterable[float]) -> None:
        import numpy as np

        data = np.frombuffer(array("d", values), dtype=float)
        self.edges = np.unique(np.quantile(data, [0.25, 0.5, 0.75])) if len(data) else np.array([])
        bins = np.searchsorted(self.edges, data, side="left")
        self.names = {}
        for number, b in enumerate(np.unique(bins), start=1):
            low, high = data[bins == b].min(), data[bins == b].max()
            self.names[int(b)] = f"Q{number} ({low:g})" if low == high else f"Q{number} ({low:g}–{high:g})"

    def __call__(self, value: float) -> str:
        import numpy as np

        return self.names[int(np.searchsorted(self.edges, value, side="left"))]


def script_of(text: str) -> str:
    """latin, cjk, mixed (both), other (letters of neither) or none (no letters at all)."""
    cjk, latin = len(CJK.findall(text)), len(_LATIN.findall(text))
    if cjk and latin:
        return "mixed"
    if cjk or latin:
        return "cjk" if cjk else "latin"
    return "other" if any(ch.isalpha() for ch in text) else "none"


def proposed_slicers(texts: Iterable[str]) -> dict[str, Callable[[str], str]]:
    """Slices worth a look on any text file, from one pass over its texts: length quartiles (characters),
    digits or not, writing system."""
    length = Quartiles(len(text) for text in texts)
    return {
        "length": lambda text: length(len(text)),
        "digits": lambda text: "digits" if _DIGIT.search(text) else "no_digits",
        "script": script_of,
    }


def column_slicer(column: str, cells: Iterable[str]) -> Callable[[str], str]:
    """A column's values as slices, from one pass over them; a numeric column with many values in
    quartiles, others refused when they have more than MAX_SLICES values (a text column is no grouping)."""
    distinct: set[str] = set()
    numbers: array | None = array("d")
    for cell in cells:
        cell = cell.strip()
        if len(distinct) <= MAX_SLICES:
            distinct.add(cell)
        if numbers is not None:
            try:
                numbers.append(float(cell))
            except ValueError:
                numbers = None
    if len(distinct) <= MAX_SLICES:
        return lambda cell: cell.strip() or EMPTY
    if numbers is None:
        raise InputError(
            "too_many_slices",
            "Column '{column}' has more than {limit} different values; choose a "
            "column with at most {limit} (such as a source, a language or a category).",
            column=column,
            limit=MAX_SLICES,
        )
    quartiles = Quartiles(numbers)
    return lambda cell: quartiles(float(cell))


Slicers = dict[str, tuple[Callable[[str], str], int | None]]


def slicers_for(
    table: Any, column: str | None, propose: bool, evaluated: Callable[[], Iterator[tuple[list[str], str]]]
) -> Slicers:
    """Slice column -> (the slice of a cell, the cell's column; None for the input's text), from passes over
    the evaluated rows (`evaluated` yields each row and its input's text), since quartiles need every value."""
    slicers: Slicers = {}
    if column:
        position = column_position(table, column)
        slicers[column] = column_slicer(column, (row[position] for row, _ in evaluated())), position
    if propose:
        slicers.update(
            (name, (slicer, None)) for name, slicer in proposed_slicers(text for _, text in evaluated()).items()
        )
    return slicers


# --- metrics per slice -----------------------------------------------------------------------------


class SliceTally:
    """One model's rows counted per slice, in the task's own tally; the share of confident mistakes beside."""

    def __init__(self, make_tally: Callable[[], Any]) -> None:
        self.make_tally = make_tally
        self.slices: dict[tuple[str, str], Any] = {}  # (column, slice) -> tallies.Tally
        self.rows: dict[tuple[str, str], int] = {}
        self.confident_wrong: dict[tuple[str, str], int] = {}

    def add(
        self,
        column: str,
        groups: list[str],
        references: list[Any],
        predictions: list[str],
        results: list[Any],
        confident_wrong: list[bool] | None,
    ) -> None:
        """Count rows in, in table order; `groups` holds each row's slice of `column`, `confident_wrong`
        whether each is a confident mistake (None when the task's predictions have no confidence)."""
        members: dict[str, list[int]] = {}
        for i, group in enumerate(groups):
            members.setdefault(group, []).append(i)
        for group, rows in members.items():
            key = (column, group)
            if key not in self.slices:
                self.slices[key] = self.make_tally()
            self.slices[key].add(
                [references[i] for i in rows], [predictions[i] for i in rows], [results[i] for i in rows]
            )
            self.rows[key] = self.rows.get(key, 0) + len(rows)
            if confident_wrong is not None:
                self.confident_wrong[key] = self.confident_wrong.get(key, 0) + sum(confident_wrong[i] for i in rows)

    def results(self, names: tuple[str, ...], overall: Any, bootstrap: int) -> list[SliceResult]:
        """Each slice's metrics `names` (fields of the task's metrics), their intervals where the task has
        them (`<name>_ci`), the gap to `overall` (the whole file's metrics); by column, then slice name."""
        found = []
        for key in sorted(self.slices, key=lambda key: (self._column_order(key[0]), key[1])):
            metrics = self.slices[key].metrics(bootstrap)
            if metrics is None or any(getattr(metrics, name) is None for name in names):
                continue  # no row of the slice finished, or none could be scored (an answer the judge could not read)
            values = {name: float(getattr(metrics, name)) for name in names}
            intervals = {
                name: getattr(metrics, f"{name}_ci")
                for name in names
                if getattr(metrics, f"{name}_ci", None) is not None
            }
            gaps = {name: values[name] - getattr(overall, name) for name in names} if overall is not None else {}
            rows, wrong = self.rows[key], self.confident_wrong.get(key)
            found.append(
                SliceResult(key[0], key[1], rows, values, intervals, gaps, None if wrong is None else wrong / rows)
            )
        return found

    def _column_order(self, column: str) -> int:
        """A file's column first, then the proposed slices in PROPOSED order."""
        return PROPOSED.index(column) + 1 if column in PROPOSED else 0

    def state(self) -> dict:
        return {
            "slices": [
                [column, group, self.rows[(column, group)], self.confident_wrong.get((column, group)), tally.state()]
                for (column, group), tally in self.slices.items()
            ]
        }

    def restore(self, state: dict) -> None:
        for column, group, rows, wrong, tally_state in state["slices"]:
            key = (column, group)
            self.slices[key] = self.make_tally()
            self.slices[key].restore(tally_state)
            self.rows[key] = rows
            if wrong is not None:
                self.confident_wrong[key] = wrong
