"""Metrics per slice of the rows: per value of a column of the file, or per slice proposed from the text
itself (length quartiles, with or without digits, writing system). A model that is good on average can be
poor on short texts or on Chinese; the gap to the whole file says where.

fairlearn's MetricFrame groups the rows and takes each group's difference to the whole; the metrics are
the task's own (metrics.TASK_SCORES), so a slice's accuracy is the accuracy of the main table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .metrics import TASK_SCORES, bootstrap_mean_interval

MAX_SLICES = 20  # distinct values a slice column may have; a numeric column with more is cut into quartiles
CONFIDENT = 0.9  # a wrong prediction scored above this is a confident mistake
PROPOSED = ("length", "digits", "script")  # the slices proposed from the text, by name
EMPTY = "(empty)"
_DIGIT = re.compile(r"\d")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")  # kana, Han, Hangul
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


@dataclass(frozen=True)
class SliceResult:
    column: str
    value: str
    rows: int
    metrics: dict[str, float]  # the task's metric names -> value on this slice
    intervals: dict[str, tuple[float, float]]  # 95% bootstrap intervals of the metrics that are means of rows
    gaps: dict[str, float]  # metric on this slice minus on the whole file
    confident_wrong: float | None  # share of rows predicted wrong with a score above CONFIDENT; None without scores


# --- which slice each row is in -------------------------------------------------------------------

def quartiles(values: list[float]) -> list[str]:
    """Each value's quartile, named by the range of values in it: "Q1 (3–17)". Values equal to a quartile
    edge stay below it, so repeated values never split, and fewer than four bins remain when values repeat."""
    import numpy as np

    array = np.asarray(values, dtype=float)
    edges = np.unique(np.quantile(array, [0.25, 0.5, 0.75]))
    bins = np.searchsorted(edges, array, side="left")
    names = {}
    for number, b in enumerate(np.unique(bins), start=1):
        low, high = array[bins == b].min(), array[bins == b].max()
        names[b] = f"Q{number} ({low:g})" if low == high else f"Q{number} ({low:g}–{high:g})"
    return [names[b] for b in bins]


def script_of(text: str) -> str:
    """latin, cjk, mixed (both), other (letters of neither) or none (no letters at all)."""
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    if cjk and latin:
        return "mixed"
    if cjk or latin:
        return "cjk" if cjk else "latin"
    return "other" if any(ch.isalpha() for ch in text) else "none"


def proposed_slices(texts: list[str]) -> dict[str, list[str]]:
    """Slices worth a look on any text file: length quartiles (characters), digits or not, writing system."""
    return {"length": quartiles([len(text) for text in texts]),
            "digits": ["digits" if _DIGIT.search(text) else "no_digits" for text in texts],
            "script": [script_of(text) for text in texts]}


def column_slices(column: str, values: list[str]) -> list[str]:
    """A column's values as slices; a numeric column with many values in quartiles, others refused when
    they have more than MAX_SLICES values (a text column is no grouping)."""
    cells = [value.strip() for value in values]
    distinct = set(cells)
    if len(distinct) <= MAX_SLICES:
        return [cell or EMPTY for cell in cells]
    try:
        return quartiles([float(cell) for cell in cells])
    except ValueError:
        raise InputError("too_many_slices", "Column '{column}' has {count:,} different values; choose a column "
                         "with at most {limit} (such as a source, a language or a category).", column=column,
                         count=len(distinct), limit=MAX_SLICES) from None


# --- metrics per slice -----------------------------------------------------------------------------

def slice_metrics(task: str, column: str, groups: list[str], references: list[Any], predictions: list[str | None],
                  confidences: list[float | None] | None = None, bootstrap: int = 1000,
                  seed: int = 0) -> list[SliceResult]:
    """The task's metrics on each slice, with intervals, row counts and the gap to the whole file.

    Rows without a prediction (not finished) or a reference (a label the model does not know) are left out.
    `confidences` (the model's score of each prediction) adds the share of confident mistakes.
    """
    import numpy as np
    import pandas as pd
    from fairlearn.metrics import MetricFrame

    kept = [i for i, (r, p) in enumerate(zip(references, predictions)) if r is not None and p is not None]
    if not kept:
        return []
    references, predictions = [references[i] for i in kept], [predictions[i] for i in kept]
    scores = TASK_SCORES[task]
    metrics = {score.name: _on_rows(score, references, predictions) for score in scores}
    wrong = None
    correct = next((score.per_row for score in scores if score.per_row), None)  # accuracy, exact match: 1 is right
    if confidences is not None and correct is not None:
        wrong = np.array([correct(r, p) == 0 and (confidences[i] or 0) > CONFIDENT
                          for i, r, p in zip(kept, references, predictions)], dtype=float)
    slices = pd.Series([groups[i] for i in kept], name=column)
    rows = np.arange(len(kept))  # MetricFrame groups row numbers; each metric reads its rows' references
    frame = MetricFrame(metrics=metrics, y_true=rows, y_pred=rows, sensitive_features=slices)
    gaps = frame.by_group - frame.overall
    members = slices.groupby(slices).indices  # slice -> its row numbers
    results = []
    for value, values in frame.by_group.iterrows():
        where = members[value]
        intervals = {score.name: bootstrap_mean_interval(
            [score.per_row(references[i], predictions[i]) for i in where], bootstrap, seed)
            for score in scores if score.per_row and bootstrap > 0}
        results.append(SliceResult(column, str(value), len(where), {k: float(v) for k, v in values.items()},
                                   intervals, {k: float(v) for k, v in gaps.loc[value].items()},
                                   None if wrong is None else float(wrong[where].mean())))
    return results


def _on_rows(score, references: list[Any], predictions: list[str]):
    """A TaskScore as MetricFrame calls a metric: on the row numbers of one group."""
    def metric(rows, _):
        return score([references[i] for i in rows], [predictions[i] for i in rows])
    return metric
