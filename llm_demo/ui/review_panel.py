"""The answers tab's review panel: a person goes through a run's rows, grades each answer (optionally blind,
in a shuffled order) and picks the better of two. Reviews are kept by the run's id in SQLite (reviews.py), so
they are there again after a restart, and each pick is also an arena vote marked as coming from review."""

from __future__ import annotations

import csv
import random
from typing import Any

import gradio as gr

from ..arena import Arena
from ..errors import InputError
from ..evaluation.results import EvaluationResult
from ..evaluation.reviews import GRADES, PICKS, ReviewStore, count_in_arena
from ..evaluation.store import RunFolder
from ..settings import get_settings
from .common import say, user_errors
from .i18n import t
from .safe_markdown import safe_markdown

SLOTS = 6  # answers shown at most: the answers task's most models


def run_of(result: EvaluationResult) -> dict[str, Any]:
    """What the panel needs of a run: its id, folder, models, the prompt and reference columns, its rows."""
    return {
        "run_id": result.run_id,
        "folder": str(result.folder),
        "models": [model.model for model in result.models],
        "prompt": result.columns.get("prompt"),
        "reference": result.columns.get("reference"),
        "rows": result.table.rows,
    }


def _cells(run: dict[str, Any], row: int) -> dict[str, str]:
    """Row `row` (0-based) of the run's predictions.csv, read without loading the rest."""
    with RunFolder(run["folder"]).predictions.open(encoding="utf-8-sig", newline="") as file:
        for index, cells in enumerate(csv.DictReader(file)):
            if index == row:
                return cells
    return {}


def _answer(run: dict[str, Any], cells: dict[str, str], model: str) -> str:
    return cells.get(f"prediction [{model}]" if len(run["models"]) > 1 else "prediction", "")


def _order(run: dict[str, Any], row: int, blind: bool) -> list[str]:
    """The models in the order their answers are shown: shuffled the same way for a row whenever it is shown."""
    models = list(run["models"])
    if blind:
        random.Random(f"{run['run_id']}:{row}").shuffle(models)
    return models


@user_errors
def show_row(run: dict | None, row: float, blind: bool, request: gr.Request) -> list:
    """The row's prompt, reference and answers, grades cleared, the pair pickers naming the shown answers."""
    if not run:
        return [say("answers.no_run", request), [], *[gr.update(visible=False)] * SLOTS * 2, *_pickers([])]
    number = min(max(int(row or 1), 1), run["rows"])
    cells = _cells(run, number - 1)
    order = _order(run, number - 1, blind)
    labels = _labels(order, blind, request)
    view = say(
        "answers.row_view",
        request,
        row=number,
        rows=run["rows"],
        prompt=cells.get(run["prompt"], ""),
        reference=cells.get(run["reference"] or "", "") or "—",
    )
    answers = [
        gr.update(visible=k < len(order), value=safe_markdown(f"**{labels[k]}**\n\n{_answer(run, cells, order[k])}"))
        if k < len(order)
        else gr.update(visible=False)
        for k in range(SLOTS)
    ]
    grades = [gr.update(visible=k < len(order), value=None) for k in range(SLOTS)]
    return [safe_markdown(view), order, *answers, *grades, *_pickers(labels)]


def _labels(order: list[str], blind: bool, request: gr.Request | None) -> list[str]:
    return [say("answers.answer_n", request, n=k + 1) if blind else model for k, model in enumerate(order)]


def _pickers(labels: list[str]) -> list:
    choices = [(label, k) for k, label in enumerate(labels)]
    return [
        gr.update(choices=choices, value=0 if labels else None),
        gr.update(choices=choices, value=1 if len(labels) > 1 else None),
        gr.update(value=None),
    ]


@user_errors
def save_review(
    run: dict | None,
    row: float,
    order: list[str],
    grade_1: str | None,
    grade_2: str | None,
    grade_3: str | None,
    grade_4: str | None,
    grade_5: str | None,
    grade_6: str | None,
    first: int | None,
    second: int | None,
    pick: str | None,
    comment: str,
    reviewer: str,
    request: gr.Request,
) -> str:
    """Every grade given and the pick, if any, for this row; the pick also counts as an arena vote."""
    grades = (grade_1, grade_2, grade_3, grade_4, grade_5, grade_6)  # one per answer slot (SLOTS)
    if not run or not order:
        raise InputError("no_run_to_review", "Run the models first; their answers appear here to review.")
    store, index = ReviewStore(get_settings().db_path), int(row or 1) - 1
    saved = [
        store.add_grade(run["run_id"], index, model, grade, comment or "", reviewer or "")
        for model, grade in zip(order, grades)
        if grade
    ]
    if pick and first is not None and second is not None:
        review = store.add_pick(
            run["run_id"], index, order[int(first)], order[int(second)], pick, comment or "", reviewer or ""
        )
        count_in_arena(Arena(get_settings().db_path), review, _cells(run, index).get(run["prompt"], ""))
        saved.append(review)
    if not saved:
        return say("answers.nothing_to_save", request)
    total = len(store.reviews(run["run_id"]))
    return say("answers.saved", request, count=len(saved), row=index + 1, total=total)


def build() -> gr.State:
    """The panel, inside the answers tab; returns the state the tab fills with each run."""
    run = gr.State(None)
    order = gr.State([])
    with gr.Accordion(t("answers.review"), open=False):
        gr.Markdown(t("answers.review_intro"))
        with gr.Row():
            row = gr.Number(1, precision=0, minimum=1, label=t("answers.row"))
            previous = gr.Button(t("answers.previous"))
            following = gr.Button(t("answers.next"))
            blind = gr.Checkbox(value=True, label=t("answers.blind"))
        view = gr.Markdown()
        answers, grades = [], []
        for _ in range(SLOTS):
            with gr.Row():
                answers.append(gr.Markdown(visible=False))
                grades.append(gr.Radio(list(GRADES), label=t("answers.grade"), visible=False))
        with gr.Row():
            first = gr.Dropdown([], label=t("answers.pick_a"))
            second = gr.Dropdown([], label=t("answers.pick_b"))
            pick = gr.Radio([(t(f"answers.pick.{name}"), name) for name in PICKS], label=t("answers.pick"))
        with gr.Row():
            comment = gr.Textbox(label=t("answers.comment"), lines=2)
            reviewer = gr.Textbox(label=t("answers.reviewer"))
        save = gr.Button(t("answers.save_review"), variant="primary")
        saved = gr.Markdown()
    shown = [view, order, *answers, *grades, first, second, pick]
    gr.on([run.change, row.submit, blind.change], show_row, [run, row, blind], shown, api_visibility="private")
    for button, step in ((previous, -1), (following, 1)):
        button.click(
            lambda number, step=step: max(1, int(number or 1) + step), row, row, api_visibility="private"
        ).then(show_row, [run, row, blind], shown, api_visibility="private")
    save.click(
        save_review,
        [run, row, order, *grades, first, second, pick, comment, reviewer],
        saved,
        api_visibility="private",
    )
    return run
