"""The training data: a table's text and label columns as rows, checked and split before any model loads."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..registry import ModelEntry

MIN_ROWS_PER_LABEL = 2  # a stratified split puts at least one row of each label on each side


@dataclass(frozen=True)
class LabelledRows:
    """Texts with their label names; `skipped` counts rows left out for a blank text or label."""

    texts: list[str]
    labels: list[str]
    skipped: int = 0

    def label_counts(self) -> dict[str, int]:
        return dict(sorted(pd.Series(self.labels, dtype=str).value_counts().items()))


def labelled_rows(frame: pd.DataFrame, text_column: str, label_column: str) -> LabelledRows:
    """The two mapped columns of a table, rows with a blank text or label left out."""
    for column in (text_column, label_column):
        if column not in frame.columns:
            raise InputError(
                "no_such_column",
                "The file has no column '{column}'. Its columns are: {columns}.",
                column=column,
                columns=", ".join(map(str, frame.columns)),
            )
    if text_column == label_column:
        raise InputError("same_columns", "The text and the label must come from two different columns.")
    texts = frame[text_column].fillna("").astype(str).str.strip()
    labels = frame[label_column].fillna("").astype(str).str.strip()
    keep = (texts != "") & (labels != "")
    return LabelledRows(texts[keep].tolist(), labels[keep].tolist(), skipped=int((~keep).sum()))


def capped(rows: LabelledRows, limit: int, seed: int) -> LabelledRows:
    """A random sample of `limit` rows (0 means no cap), in file order, for deployments that bound training."""
    if not limit or len(rows.texts) <= limit:
        return rows
    keep = sorted(random.Random(seed).sample(range(len(rows.texts)), limit))
    return LabelledRows([rows.texts[i] for i in keep], [rows.labels[i] for i in keep], rows.skipped)


def check_trainable(rows: LabelledRows, validation_fraction: float) -> None:
    """Refuse data a stratified split cannot divide, with a message saying what to add."""
    counts = rows.label_counts()
    if len(counts) < 2:
        raise InputError(
            "one_class",
            "Training needs at least two different labels; the label column has {found}.",
            found=", ".join(counts) or "none",
        )
    rare = [label for label, count in counts.items() if count < MIN_ROWS_PER_LABEL]
    if rare:
        raise InputError(
            "too_few_per_label",
            "Each label needs at least {needed} rows for a validation split; these have fewer: {labels}.",
            needed=MIN_ROWS_PER_LABEL,
            labels=", ".join(rare[:10]),
        )
    validation_rows = math.ceil(validation_fraction * len(rows.labels))
    if min(validation_rows, len(rows.labels) - validation_rows) < len(counts):
        raise InputError(
            "split_too_small",
            "{rows} rows split at a validation fraction of {fraction} leave fewer "
            "rows on one side than the {labels} labels. Add rows or change the fraction.",
            rows=len(rows.labels),
            fraction=validation_fraction,
            labels=len(counts),
        )


def split_rows(labels: Sequence[str], validation_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Row indices for training and validation, each label in the same proportion on both sides."""
    from sklearn.model_selection import train_test_split

    train, validation = train_test_split(
        list(range(len(labels))), test_size=validation_fraction, stratify=list(labels), random_state=seed
    )
    return sorted(train), sorted(validation)


def label_order(entry: ModelEntry, labels: Sequence[str]) -> list[str]:
    """Label names in class-id order: sorted, or a saved checkpoint's own order when it was trained on the
    same labels, so that continuing its training keeps its head."""
    names = sorted(set(labels))
    config_file = Path(entry.model) / "config.json"
    if config_file.is_file():
        id2label = json.loads(config_file.read_text(encoding="utf-8")).get("id2label") or {}
        previous = [str(id2label[key]) for key in sorted(id2label, key=int)]
        if sorted(previous) == names:
            return previous
    return names
