"""Batched inference of one or more models over a table, as a recipe of named steps, in memory that does
not grow with the number of rows.

After Hugging Face evaluate's Evaluator: check the columns -> prepare the models -> call the models
(timed, batch by batch, with progress and cancelling) -> compute the metrics. The table is read a window
of rows at a time; each model sorts a window by length and batches it by token budget (a window of
8,192 rows pads 0.8% more than sorting the whole file, bench/run.py), its predictions are appended to
predictions.csv, and what they add to the metrics is kept as a Tally: counts and sums, not rows. After
each window the run's state is saved, so a run stopped for any reason continues from there and ends
with the metrics of a run never stopped.

What differs between tasks lives in one small class per task; the recipe is written once. The models
are called only through the tasks' iter_* functions; any callable yielding (indices, results) batches
can stand in for a model.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InputError, UserFacingError
from .answers import AnswerOptions
from .blocks import PredictionsLayout, RowBlock, failed_inputs, fold_beyond, fold_model
from .reading import Chunk, Table, TableFile, open_table
from .recipes import BeyondAccuracy, candidate_labels, check_columns, prepare_models, role_cells, task_named
from .results import (
    CANCELLED,
    COMPLETE,
    FAILED,
    NOT_RUN,
    RUNNING,
    EvaluationResult,
    ModelResult,
    Predictor,
    RunProgress,
    Timing,
    run_id_of,
)
from .robustness import PerturbationTally, perturb_rows, text_of
from .slices import SliceTally, slicers_for
from .store import RunFolder
from .swaps import is_swap
from .tallies import Outcome, Tally

STATE_VERSION = 1


class Evaluation:
    """One run: a task, a table, its column mapping and the models, writing into `folder`; step through it
    (steps, then finish) or call evaluate(). With resume=True it continues the run stopped in `folder`."""

    def __init__(
        self,
        task: str,
        table: Table | TableFile | str | Path,
        columns: dict[str, str | None],
        models: list[Predictor | str],
        folder: str | Path,
        registry=None,
        budget: int | None = None,
        batch_size: int | None = None,
        resume: bool = False,
        window: int | None = None,
        beyond: BeyondAccuracy | None = None,
        answers: AnswerOptions | None = None,
    ) -> None:
        self.task = task_named(task).configured(answers)
        window = window or self.task.window_rows
        self.table = table if isinstance(table, (Table, TableFile)) else open_table(table)
        self.columns, self.window = columns, window
        self.role_columns = check_columns(self.task, self.table, columns)
        self.shown_columns = [
            self.table.columns.index(columns[role]) for role in self.task.shown_roles if columns.get(role)
        ]
        self.beyond = (beyond or BeyondAccuracy()).checked_for(self.task, columns)
        self.store = RunFolder(folder)
        self.identity = {
            "version": STATE_VERSION,
            "file": self.table.fingerprint(),
            "rows": self.table.rows,
            "task": self.task.name,
            "columns": [columns.get(role) for role in self.task.roles],
            "models": [m.name if isinstance(m, Predictor) else m for m in models],
            "window": window,
            "batch_size": batch_size,
            "budget": budget,
            "beyond": {**vars(self.beyond), "swap_terms": list(self.beyond.swap_terms)},  # as state.json has it
            "options": self.task.options_state(),
            "decisive": self.task.decisive_options(),
        }
        saved = self._saved_state() if resume else None
        if saved is None:
            self._check_something_to_evaluate()
        labels = candidate_labels(self._column_cells("label")) if self.task.reads_labels_first else []
        self.slicers = self._slicers()
        self.outcomes = [
            self._outcome(p) for p in prepare_models(self.task, models, labels, registry, budget, batch_size)
        ]
        self.judging = self.task.judging([outcome.predictor.name for outcome in self.outcomes], registry)
        score = (
            self.task.score_name if self.task.score_name not in ("", "perplexity") else ""
        )  # perplexity: the prediction
        self.layout = PredictionsLayout(
            self.table.columns, [outcome.predictor.name for outcome in self.outcomes], score, self.task.note_name
        )
        self.next_row, self.rows_skipped, self.current = 0, 0, None
        if saved is None:
            self.store.start(self.layout.header())
            self._commit(finished=False)
        else:
            self.store.continue_from(saved)
            self.next_row, self.rows_skipped = saved["next_row"], saved["rows_skipped"]
            for outcome, state in zip(self.outcomes, saved["models"]):
                outcome.restore(state)
            if self.judging:
                self.judging.restore(saved["judging"])

    # --- setting up

    def _saved_state(self) -> dict:
        saved = self.store.saved_state()
        if saved is None:
            raise InputError(
                "nothing_to_resume", "There is no stopped run to continue in '{folder}'.", folder=str(self.store.folder)
            )
        different = [key for key, value in self.identity.items() if saved.get("identity", {}).get(key) != value]
        if different:
            raise InputError(
                "resume_mismatch",
                "The run in '{folder}' was started with another {what}; run without resuming to start over.",
                folder=str(self.store.folder),
                what=", ".join(different),
            )
        return saved

    def _role_cells(self, chunk: Chunk) -> Iterator[dict[str, str]]:
        for row in chunk.rows:
            yield role_cells(self.task, row, self.role_columns)

    def _evaluated_rows(self) -> Iterator[tuple[list[str], dict[str, str]]]:
        """Every row that is evaluated, with its cells by role, in a pass over the whole table."""
        for chunk in self.table.chunks():
            for row, cells in zip(chunk.rows, self._role_cells(chunk)):
                if self._evaluable(cells):
                    yield row, cells

    def _column_cells(self, role: str) -> Iterator[str]:
        """One role's cell of every row that is evaluated."""
        return (cells[role] for _, cells in self._evaluated_rows())

    def _slicers(self) -> dict[str, tuple[Callable[[str], str], int | None]]:
        return slicers_for(
            self.table,
            self.beyond.slice_column,
            self.beyond.propose_slices,
            lambda: ((row, text_of(self.task.input_of(cells))) for row, cells in self._evaluated_rows()),
        )

    def _outcome(self, predictor: Predictor) -> Outcome:
        """A model's outcome, with a tally per perturbation and per slice when those are asked for."""

        def make_tally() -> Tally:
            return self.task.tally(predictor)

        perturbations = [PerturbationTally(name, self.task.name, make_tally) for name in self.beyond.perturbations]
        return Outcome(
            predictor,
            make_tally(),
            perturbations=perturbations,
            slices=SliceTally(make_tally) if self.slicers else None,
        )

    def _evaluable(self, cells: dict[str, str]) -> bool:
        return self.task.evaluable(cells)

    def _check_something_to_evaluate(self) -> None:
        """Stop at the first row that has every cell it needs (usually the first row); refuse when none has."""
        if not any(self._evaluable(cells) for chunk in self.table.chunks() for cells in self._role_cells(chunk)):
            raise InputError(
                "nothing_to_evaluate",
                "No row of '{name}' has all of: {columns}.",
                name=self.table.source_name,
                columns=", ".join(self.identity["columns"]),
            )

    def _window(self, chunk: Chunk) -> RowBlock:
        window = RowBlock(chunk.start, chunk.rows)
        for row, cells in enumerate(self._role_cells(chunk)):
            if not self._evaluable(cells):
                window.skipped.add(row)
                continue
            window.rows.append(row)
            window.inputs.append(self.task.input_of(cells))
            window.references.append(self.task.reference_of(cells))
        if self.beyond.perturbations:
            window.perturbed = perturb_rows(window.inputs, self.beyond.seed, self.beyond.perturbations)
            window.inputs = window.inputs + [item for perturbed in window.perturbed for item in perturbed.inputs]
        return window

    # --- running

    def steps(self) -> Iterator[RunProgress]:
        """Run the models window by window, yielding progress after every batch; stop iterating to cancel."""
        per_row = len(self.outcomes) + (self.judging.units_per_row if self.judging else 0)
        total = (self.table.rows - self.next_row) * per_row
        done, started = 0, time.perf_counter()
        for chunk in self.table.chunks(self.window, self.next_row):
            self.current = window = self._window(chunk)
            done += len(window.skipped) * per_row
            for outcome in self.outcomes:
                if outcome.status != FAILED:
                    outcome.status = RUNNING
                    for rows_in_batch in self.call_model(outcome, window):
                        done += rows_in_batch
                        yield RunProgress(outcome.predictor.name, done, total, time.perf_counter() - started)
                done += len(window.rows) - window.row_inputs(outcome.results)  # a failed model's rows count as passed
            if self.judging:
                for units in self.judging.steps(window, self.outcomes):
                    done += units
                    yield RunProgress(self.judging.name, done, total, time.perf_counter() - started)
            self._fold(window)
            self._commit(finished=False)
        for outcome in self.outcomes:
            if outcome.status in (RUNNING, NOT_RUN):
                outcome.status = COMPLETE
        self._commit(finished=True)

    def call_model(self, outcome: Outcome, window: RowBlock) -> Iterator[int]:
        """Run one model over a window batch by batch, timing each; a failure keeps the rows that finished."""
        outcome.results = {}
        clock = time.perf_counter()
        batches = iter(outcome.predictor.run(window.inputs))
        try:
            while True:
                started = time.perf_counter()
                batch = next(batches, None)
                if batch is None:
                    break
                outcome.batch_seconds.append(time.perf_counter() - started)
                outcome.results.update(zip(*batch))
                yield window.row_inputs(batch[0])  # progress counts rows of the table, not perturbed copies
        except GeneratorExit:
            outcome.status = CANCELLED
            raise
        except UserFacingError as error:
            outcome.status, outcome.error = FAILED, str(error)
        except Exception as error:  # noqa: BLE001 - keep what finished, say what failed
            outcome.status, outcome.error = FAILED, f"{type(error).__name__}: {error}"
        finally:
            outcome.seconds += time.perf_counter() - clock
            getattr(batches, "close", lambda: None)()

    def _fold(self, window: RowBlock) -> None:
        """Add the window's results to each model's tally and worst rows, and its rows to predictions.csv."""
        columns: list[list[list[Any]]] = []  # per model, per window row: prediction, score, note, status
        for outcome in self.outcomes:
            columns.append(fold_model(self.task, outcome, outcome.tally, outcome.worst, window, self.shown_columns))
            fold_beyond(self.task, outcome, outcome.perturbations, outcome.slices, window, self.slicers)
            failed = failed_inputs(outcome.results)
            failed_rows = window.row_inputs(failed)
            outcome.rows_done += window.row_inputs(outcome.results) - failed_rows
            outcome.rows_failed += failed_rows
            outcome.failure = outcome.failure or next((str(error) for error in failed.values()), None)
            outcome.results = {}
        self.rows_skipped += len(window.skipped)
        self.store.append(
            [self.layout.row(cells, [model[row] for model in columns]) for row, cells in enumerate(window.cells)]
        )
        self.next_row = window.start + len(window.cells)
        self.current = None

    def _commit(self, finished: bool) -> None:
        self.store.commit(
            {
                "identity": self.identity,
                "next_row": self.next_row,
                "rows_skipped": self.rows_skipped,
                "finished": finished,
                "models": [outcome.state() for outcome in self.outcomes],
                "judging": self.judging.state() if self.judging else None,
            }
        )

    def finish(self) -> None:
        """After steps() ran out or was stopped: write the rows of a stopped run that did not finish, so
        predictions.csv lists every row (state.json still counts only whole windows: a continued run
        redoes the window that was under way)."""
        stopped = any(outcome.status in (RUNNING, NOT_RUN, CANCELLED) for outcome in self.outcomes)
        if not stopped:
            return
        for outcome in self.outcomes:
            if outcome.status in (RUNNING, NOT_RUN):
                outcome.status = CANCELLED
        if self.current is not None:
            self._fold(self.current)
        for chunk in self.table.chunks(self.window, self.next_row):
            self._fold(
                RowBlock(
                    chunk.start,
                    chunk.rows,
                    skipped={row for row, cells in enumerate(self._role_cells(chunk)) if not self._evaluable(cells)},
                )
            )

    def result(self, bootstrap: int = 1000) -> EvaluationResult:
        """The results so far: complete after steps() ran out, partial (the window under way included) before."""
        return EvaluationResult(
            self.task.name,
            self.table,
            self.columns,
            [self._model_result(outcome, bootstrap) for outcome in self.outcomes],
            self._rows_skipped(),
            self.store.folder,
            self.judging.result(bootstrap) if self.judging else None,
            run_id_of(self.identity),
            self.task.cache_counts(),
        )

    def _model_result(self, outcome: Outcome, bootstrap: int) -> ModelResult:
        tally, worst, done, failed = outcome.tally, outcome.worst, outcome.rows_done, outcome.rows_failed
        failure = outcome.failure
        perturbations, slices = outcome.perturbations, outcome.slices
        if self.current is not None and outcome.results:
            tally, worst, perturbations, slices = copy.deepcopy((tally, worst, perturbations, slices))
            fold_model(self.task, outcome, tally, worst, self.current, self.shown_columns)
            fold_beyond(self.task, outcome, perturbations, slices, self.current, self.slicers)
            failing = failed_inputs(outcome.results)
            failing_rows = self.current.row_inputs(failing)
            done = done + self.current.row_inputs(outcome.results) - failing_rows
            failed += failing_rows
            failure = failure or next((str(error) for error in failing.values()), None)
        not_finished = self.table.rows - self._rows_skipped() - done
        error = outcome.error or (f"{failed} rows failed: {failure}" if failed else None)
        metrics = tally.metrics(bootstrap)
        changed = [perturbation.result(bootstrap) for perturbation in perturbations]
        return ModelResult(
            outcome.predictor.name,
            outcome.status,
            error,
            metrics,
            Timing.measured(
                outcome.predictor.device, outcome.seconds, done - outcome.rows_before, outcome.batch_seconds
            ),
            tally.unknown_labels(),
            worst.rows(),
            done,
            not_finished,
            failed,
            [item for item in changed if not is_swap(item.perturbation)],
            slices.results(self.task.slice_metrics(self.columns), metrics, bootstrap) if slices else [],
            [item for item in changed if is_swap(item.perturbation)],
        )

    def _rows_skipped(self) -> int:
        """Rows skipped so far, in the windows read (the window under way included)."""
        return self.rows_skipped + (len(self.current.skipped) if self.current else 0)


def evaluate(
    task: str,
    table: Table | TableFile | str | Path,
    columns: dict[str, str | None],
    models: list[Predictor | str],
    folder: str | Path,
    registry=None,
    on_progress: Callable[[RunProgress], None] | None = None,
    cancel: threading.Event | None = None,
    budget: int | None = None,
    batch_size: int | None = None,
    bootstrap: int = 1000,
    resume: bool = False,
    window: int | None = None,
    beyond: BeyondAccuracy | None = None,
    answers: AnswerOptions | None = None,
) -> EvaluationResult:
    """Evaluate models on a table, writing predictions.csv into `folder` as rows finish; setting `cancel`
    stops after the current batch and keeps what finished."""
    run = Evaluation(
        task, table, columns, models, folder, registry, budget, batch_size, resume, window, beyond, answers
    )
    steps = run.steps()
    for progress in steps:
        if on_progress:
            on_progress(progress)
        if cancel is not None and cancel.is_set():
            steps.close()
            break
    run.finish()
    return run.result(bootstrap)
