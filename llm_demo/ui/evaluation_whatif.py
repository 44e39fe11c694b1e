"""From the evaluation tab to What if?: a row picked in the worst rows or the robustness flips, with one click,
opens in the What if? tab as the model read it (and, for a flip, beside its perturbed copy). The tables show rows
shortened, so the row's whole text is read back from the file."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..evaluation.reading import column_position, open_table
from ..evaluation.recipes import candidate_labels
from ..evaluation.robustness import PERTURBATIONS, perturb
from .carry import Carry
from .common import say

CLASSIFYING = ("classification", "sentiment", "zero-shot")  # what What if? compares label by label


def picked_worst(event: gr.SelectData) -> dict[str, Any]:
    """A worst row as the table shows it: model, then the 1-based row."""
    model, row = event.row_value[:2]
    return {"model": model, "row": int(row), "perturbation": None}


def picked_flip(event: gr.SelectData, request: gr.Request) -> dict[str, Any]:
    """A robustness flip: model, the perturbation (shown in the reader's language), then the 1-based row."""
    model, shown, row = event.row_value[:3]
    name = next((key for key in PERTURBATIONS if say(f"evaluation.perturbation.{key}", request) == shown), None)
    return {"model": model, "row": int(row), "perturbation": name}


def _cells(path: str, row: int, columns: list[str]) -> list[str]:
    """Those columns of one data row (1-based) of the file, whole."""
    table = open_table(path)
    positions = [column_position(table, column) for column in columns]
    for chunk in table.chunks(1, row - 1):
        return [chunk.rows[0][position] for position in positions]
    return [""] * len(columns)


def carried(picked: dict | None, path: str | None, task: str, text: str, label: str) -> list[Any]:
    """What if?'s fields for the picked row: its text, the text to edit (the perturbed copy of a flip), the model,
    and for zero-shot the file's labels as candidates."""
    if not picked or not path or task not in CLASSIFYING or not text:
        return [gr.update()] * 5
    (original,) = _cells(path, picked["row"], [text])
    edited = perturb(picked["perturbation"], original) if picked["perturbation"] else original
    labels = ""
    if task == "zero-shot" and label:
        labels = ", ".join(candidate_labels(cells[0] for cells in _column(path, label)))
    return [original, edited, picked["model"], labels, False]


def _column(path: str, column: str):
    table = open_table(path)
    position = column_position(table, column)
    for chunk in table.chunks():
        for row in chunk.rows:
            yield [row[position].strip()]


def what_if_from_tables(worst: gr.Dataframe, flips: gr.Dataframe, button: gr.Button, inputs: list) -> Carry:
    """Picking a row of either table remembers it; the button carries it to What if? (`inputs`: the file, the
    task, the text and label columns)."""
    picked = gr.State(None)
    worst.select(picked_worst, None, picked, api_visibility="private")
    flips.select(picked_flip, None, picked, api_visibility="private")
    return Carry(button, [picked, *inputs], "whatif_classify", carried)
