"""A block of consecutive rows as the models see it, and what one model's results for a block add to its tallies,
its worst rows and the block's cells in predictions.csv."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserFacingError
from .results import DONE, NOT_FINISHED, ROW_FAILED, SKIPPED, WorstRow, shortened
from .robustness import Pair, PerturbationTally, PerturbedRows, text_of
from .slices import CONFIDENT, SliceTally
from .tallies import Outcome, Tally, WorstRows
from .task import TaskEvaluation


@dataclass
class RowBlock:
    """Consecutive rows of the table as one model call sees them: the rows whose cells the task needs, then
    (with robustness) their perturbed copies, which the models read in the same batches."""

    start: int  # table row of the first row
    cells: list[list[str]]  # every row of the window as read, for predictions.csv
    rows: list[int] = field(default_factory=list)  # window row of each row input (the first len(rows) inputs)
    inputs: list[Any] = field(default_factory=list)  # what the model reads: a text, (question, context)...
    references: list[Any] = field(default_factory=list)  # a label, accepted answers, a translation; None
    skipped: set[int] = field(default_factory=set)  # window rows with an empty required cell
    perturbed: list[PerturbedRows] = field(default_factory=list)  # inputs after the row inputs, per perturbation

    def row_inputs(self, indices: Iterable[int]) -> int:
        """How many of these input indices are rows of the table rather than perturbed copies."""
        return sum(1 for i in indices if i < len(self.rows))


def failed_inputs(results: dict[int, Any]) -> dict[int, UserFacingError]:
    """The inputs a model server could not answer: their result is the error."""
    return {index: result for index, result in results.items() if isinstance(result, UserFacingError)}


@dataclass(frozen=True)
class PredictionsLayout:
    """How predictions.csv lays out a row: the file's cells, then per model its prediction, score, note and status;
    `prediction` is the first model's, and with several models each also gets `prediction [model]`."""

    file_columns: list[str]
    models: list[str]
    score_name: str  # "" when the task writes no score column
    note_name: str = ""  # "" when the task writes no note (the answers task: the judge's rationale)

    def header(self) -> list[str]:
        several = len(self.models) > 1
        header = list(self.file_columns)
        for index, name in enumerate(self.models):
            suffix = f" [{name}]" if several else ""
            header += ["prediction"] if index == 0 else []
            header += [f"prediction{suffix}"] if several else []
            header += [f"{self.score_name}{suffix}"] if self.score_name else []
            header += [f"{self.note_name}{suffix}"] if self.note_name else []
            header.append(f"status{suffix}")
        return header

    def row(self, cells: list[str], per_model: list[list[Any]]) -> list[Any]:
        """A row of the file with each model's (prediction, score, note, status) cells after it."""
        out = list(cells)
        for index, (prediction, score, note, status) in enumerate(per_model):
            out += [prediction] if index == 0 else []
            out += [prediction] if len(self.models) > 1 else []
            out += [score] if self.score_name else []
            out += [note] if self.note_name else []
            out.append(status)
        return out


def fold_model(
    task: TaskEvaluation,
    outcome: Outcome,
    tally: Tally,
    worst: WorstRows,
    window: RowBlock,
    shown_columns: list[int],
) -> list[list[Any]]:
    """Count one model's finished rows of the window into `tally` and `worst`; its four cells per row."""
    failed = failed_inputs(outcome.results)
    finished = sorted(i for i in outcome.results if i < len(window.rows) and i not in failed)
    results = [outcome.results[i] for i in finished]
    predictions = [task.prediction_of(result)[0] for result in results]
    references = [window.references[i] for i in finished]
    scores = tally.add(references, predictions, results) if finished else []
    cells = [["", "", "", SKIPPED if row in window.skipped else NOT_FINISHED] for row in range(len(window.cells))]
    for index, prediction, reference, score, result in zip(finished, predictions, references, scores, results):
        row = window.rows[index]
        cells[row] = [prediction, "" if score is None else round(score, 4), task.note_of(result), DONE]
        worst.offer(
            tally.badness(reference, prediction, score),
            window.start + row,
            lambda row=row, prediction=prediction, score=score: worst_row(
                window, row, prediction, score, shown_columns
            ),
        )
    for index in failed:
        if index < len(window.rows):  # a perturbed copy has no cell of its own
            cells[window.rows[index]] = ["", "", "", ROW_FAILED]
    return cells


def fold_beyond(
    task: TaskEvaluation,
    outcome: Outcome,
    perturbations: list[PerturbationTally],
    slices: SliceTally | None,
    window: RowBlock,
    slicers: dict[str, tuple[Callable[[str], str], int | None]],
) -> None:
    """Count one model's finished rows of the window into its perturbation and slice tallies."""
    failed = failed_inputs(outcome.results)
    results = {i: result for i, result in outcome.results.items() if i not in failed}
    start = len(window.rows)
    for tally, perturbed in zip(perturbations, window.perturbed):
        tally.add(
            [
                Pair(
                    window.start + window.rows[i],
                    window.references[i],
                    window.inputs[i],
                    item,
                    results[i],
                    results[start + j],
                )
                for j, (i, item) in enumerate(zip(perturbed.rows, perturbed.inputs))
                if i in results and start + j in results
            ],
            task.prediction_of,
        )
        start += len(perturbed.rows)
    if slices is None:
        return
    finished = sorted(i for i in results if i < len(window.rows))
    cells = [task.prediction_of(results[i]) for i in finished]
    predictions = [prediction for prediction, _ in cells]
    references = [window.references[i] for i in finished]
    wrong = [outcome.tally.wrong(reference, prediction) for reference, prediction in zip(references, predictions)]
    confident = None if None in wrong else [w and (score or 0) > CONFIDENT for w, (_, score) in zip(wrong, cells)]
    for column, (slicer, position) in slicers.items():
        groups = [
            slicer(window.cells[window.rows[i]][position] if position is not None else text_of(window.inputs[i]))
            for i in finished
        ]
        slices.add(column, groups, references, predictions, [results[i] for i in finished], confident)


def worst_row(window: RowBlock, row: int, prediction: str, score: float | None, shown_columns: list[int]) -> WorstRow:
    """A row as the worst-rows table shows it: its input cells, then its reference (the last shown column)."""
    shown = [window.cells[row][column] for column in shown_columns]
    text = " | ".join(shown[:-1] if len(shown) > 1 else shown)
    reference = shown[-1] if len(shown) > 1 else ""
    return WorstRow(
        window.start + row,
        shortened(text),
        shortened(reference),
        prediction,
        None if score is None else round(score, 4),
    )
