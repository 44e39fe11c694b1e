"""Batched inference of one or more models over a table, as a recipe of named steps.

After Hugging Face evaluate's Evaluator: prepare_data (check the columns) -> prepare_models ->
call_model (timed, batch by batch, with progress and cancelling) -> compute_metrics. What differs
between tasks lives in one small class per task; the recipe is written once. The models are called
only through the tasks' iter_* functions, which sort by length, batch by token budget and run under
torch.inference_mode(); any callable yielding (indices, results) batches can stand in for a model.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError, UserFacingError
from . import metrics as scoring
from .reading import ROLES, Table, answers_in

Batches = Iterable[tuple[list[int], list[Any]]]
WORST_ROWS = 10

DONE, SKIPPED, NOT_FINISHED = "done", "skipped", "not_finished"  # the status of a row, per model
COMPLETE, RUNNING, CANCELLED, FAILED, NOT_RUN = "complete", "running", "cancelled", "failed", "not_run"


@dataclass
class Predictor:
    """A model as the runner sees it: `run` maps a list of inputs to (input indices, results) batches."""

    name: str
    run: Callable[[list[Any]], Batches]
    labels: list[str] | None = None  # class names in id order, so "0", "1"... in a file match them
    device: str = "cpu"


@dataclass
class Rows:
    """The rows of a table a task can evaluate, and why the others are skipped."""

    positions: list[int]  # table row of each input
    inputs: list[Any]  # what the model reads: a text, (question, context)...
    references: list[Any]  # what it should say: a label, accepted answers, a translation; None for generation
    skipped: dict[int, str] = field(default_factory=dict)  # table row -> "empty_<column role>"


@dataclass
class Progress:
    model: str
    done: int  # rows finished, all models together
    total: int
    elapsed: float  # seconds since the first model started

    @property
    def rows_per_second(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        return (self.total - self.done) / self.rows_per_second if self.rows_per_second else None


@dataclass
class Timing:
    device: str
    seconds: float  # model time, tokenizing included
    rows_per_second: float
    mean_batch_seconds: float
    p95_batch_seconds: float
    batches: int


@dataclass
class ModelResult:
    """One model over the table: predictions per table row (None where it did not get to), and scores."""

    model: str
    status: str  # complete, running, cancelled, failed, not_run
    error: str | None
    predictions: list[str | None]
    scores: list[float | None]  # per row: confidence, answer F1, chrF or perplexity (see task.score_name)
    row_status: list[str]
    metrics: Any  # ClassificationMetrics, QAMetrics, TranslationMetrics, GenerationMetrics; None without rows
    timing: Timing
    unknown_labels: dict[str, int]  # reference labels the model does not know -> how many rows
    worst: list[int]  # table rows, worst first

    @property
    def rows_done(self) -> int:
        return self.row_status.count(DONE)


@dataclass
class EvaluationResult:
    task: str
    table: Table
    columns: dict[str, str | None]
    models: list[ModelResult]

    @property
    def finished(self) -> bool:
        return all(model.status == COMPLETE for model in self.models)


@dataclass(frozen=True)
class GenerationMetrics:
    perplexity: float
    tokens: int


# --- one class per task: what the recipe needs to know ------------------------------------------

class TaskEvaluation:
    """The parts of an evaluation that differ by task; the base class reads single-text rows."""

    name = ""
    registry_task = ""  # where its models are listed in models.yaml
    kind = ""  # what loading.get_model loads
    score_name = ""  # what the per-row score is
    optional_roles: tuple[str, ...] = ()  # roles whose cell may be empty

    @property
    def roles(self) -> tuple[str, ...]:
        return ROLES[self.name]

    def input_of(self, cells: dict[str, str]) -> Any:
        return cells["text"]

    def reference_of(self, cells: dict[str, str]) -> Any:
        return cells.get("label")

    def predictor(self, loaded, entry, rows: Rows, budget: int | None) -> Predictor:
        raise NotImplementedError

    def prediction_of(self, result: Any) -> tuple[str, float | None]:
        """The prediction cell and the per-row score of one model result."""
        raise NotImplementedError

    def score(self, references: list[Any], predictions: list[str], results: list[Any], predictor: Predictor,
              bootstrap: int) -> tuple[Any, list[float | None], dict[str, int], list[int]]:
        """(metrics, per-row scores, unknown labels, positions in the given lists worst first)."""
        raise NotImplementedError


def match_label(reference: str, labels: list[str]) -> str | None:
    """The model's label a reference means: same name ignoring case, or a class id; None if unknown."""
    key = reference.strip().casefold()
    by_name = {label.casefold(): label for label in labels}
    if key in by_name:
        return by_name[key]
    if re.fullmatch(r"\d+", key) and int(key) < len(labels):
        return labels[int(key)]
    return None


class ClassificationEvaluation(TaskEvaluation):
    name, registry_task, kind, score_name = "classification", "classification", "sequence-classification", "score"

    def predictor(self, loaded, entry, rows, budget):
        from ..tasks.classification import encode, iter_classify, label_names

        return Predictor(entry.name, lambda texts: iter_classify(loaded, encode(loaded, texts), budget),
                         labels=label_names(loaded), device=loaded.placement)

    def prediction_of(self, result):
        return result.label, result.score

    def score(self, references, predictions, results, predictor, bootstrap):
        names = predictor.labels or sorted(set(predictions))
        matched = [match_label(reference, names) for reference in references]
        unknown = Counter(reference.strip() for reference, label in zip(references, matched) if label is None)
        known = [i for i, label in enumerate(matched) if label is not None]
        gold, guessed = [matched[i] for i in known], [predictions[i] for i in known]
        present = set(gold) | set(guessed)
        labels = [label for label in names if label in present]
        metrics = scoring.classification_metrics(gold, guessed, labels, bootstrap) if known else None
        scores = [self.prediction_of(result)[1] for result in results]
        wrong = [i for i in known if matched[i] != predictions[i]]
        return metrics, scores, dict(unknown), sorted(wrong, key=lambda i: -(scores[i] or 0))


class SentimentEvaluation(ClassificationEvaluation):
    name, registry_task = "sentiment", "sentiment"


class ZeroShotEvaluation(ClassificationEvaluation):
    """Classification with an NLI model whose candidate labels are the labels found in the file."""

    name, registry_task = "zero-shot", "classification"

    def predictor(self, loaded, entry, rows, budget):
        from ..tasks.classification import iter_zero_shot, parse_labels

        labels = parse_labels(candidate_labels(rows.references), multi_label=False)
        return Predictor(entry.name, lambda texts: iter_zero_shot(loaded, texts, labels, budget=budget),
                         labels=labels, device=loaded.placement)


def candidate_labels(references: list[str]) -> list[str]:
    """Each distinct label of a file once (ignoring case), as first written, in order of first appearance."""
    seen: dict[str, str] = {}
    for label in references:
        seen.setdefault(label.strip().casefold(), label.strip())
    return list(seen.values())


class QAEvaluation(TaskEvaluation):
    name, registry_task, kind, score_name = "qa", "qa", "question-answering", "f1"
    optional_roles = ("answer",)  # an empty answer cell: the context has no answer

    def input_of(self, cells):
        return cells["question"], cells["context"]

    def reference_of(self, cells):
        return answers_in(cells["answer"])

    def predictor(self, loaded, entry, rows, budget):
        from ..tasks.qa import QASettings, iter_answer

        settings = QASettings(allow_no_answer=bool(entry.option("no_answer")))
        return Predictor(entry.name, lambda pairs: iter_answer(loaded, [q for q, _ in pairs], [c for _, c in pairs],
                                                               settings, budget), device=loaded.placement)

    def prediction_of(self, result):
        return result[0].text, result[0].score

    def score(self, references, predictions, results, predictor, bootstrap):
        per_row = [scoring.qa_score(prediction, answers) for prediction, answers in zip(predictions, references)]
        f1 = [row.f1 for row in per_row]
        metrics = scoring.qa_metrics(per_row) if per_row else None
        return metrics, f1, {}, sorted((i for i in range(len(f1)) if f1[i] < 1), key=lambda i: f1[i])


class TranslationEvaluation(TaskEvaluation):
    name, registry_task, kind, score_name = "translation", "translation", "seq2seq", "chrf"

    def input_of(self, cells):
        return cells["source"]

    def reference_of(self, cells):
        return cells["reference"]

    def predictor(self, loaded, entry, rows, budget):
        from ..tasks.translation import TranslationSettings

        settings = TranslationSettings(source_lang=entry.option("source_lang"), target_lang=entry.option("target_lang"))
        return Predictor(entry.name, lambda texts: iter_translate_rows(loaded, texts, settings, budget),
                         device=loaded.placement)

    def prediction_of(self, result):
        return result, None

    def score(self, references, predictions, results, predictor, bootstrap):
        metrics = scoring.translation_metrics(references, predictions) if predictions else None
        chrf = [scoring.sentence_chrf(p, r) for p, r in zip(predictions, references)]
        return metrics, chrf, {}, sorted(range(len(chrf)), key=lambda i: chrf[i])


def iter_translate_rows(loaded, texts: list[str], settings, budget: int | None) -> Iterator[tuple[list[int], list[str]]]:
    """Translate whole cells sentence by sentence (as the translation tab does), yielding each row once all
    its sentences are done, so progress and cancelling work per row."""
    from ..tasks.translation import iter_translate_sentences, join_sentences, split_sentences

    structure = [split_sentences(text) for text in texts]
    owner = [row for row, lines in enumerate(structure) for line in lines for _ in line]  # sentence -> row
    first: dict[int, int] = {}  # row -> its first sentence; a row's sentences are contiguous
    for sentence, row in enumerate(owner):
        first.setdefault(row, sentence)
    remaining = Counter(owner)
    translated: dict[int, str] = {}

    def reassemble(row: int) -> str:
        pieces = (translated[i] for i in range(first[row], len(owner)))
        return "\n".join(join_sentences([next(pieces) for _ in line]) for line in structure[row])

    sentences = [sentence for lines in structure for line in lines for sentence in line]
    for indices, batch in iter_translate_sentences(loaded, sentences, settings, budget):
        translated.update(zip(indices, batch))
        remaining.subtract(owner[i] for i in indices)
        finished = list(dict.fromkeys(owner[i] for i in indices if remaining[owner[i]] == 0))
        yield finished, [reassemble(row) for row in finished]


class GenerationEvaluation(TaskEvaluation):
    name, registry_task, kind, score_name = "generation", "generation", "causal-lm", "perplexity"

    def reference_of(self, cells):
        return None

    def predictor(self, loaded, entry, rows, budget):
        from ..tasks.generation import iter_token_logprobs

        return Predictor(entry.name, lambda texts: iter_token_logprobs(loaded, texts, budget),
                         device=loaded.placement)

    def prediction_of(self, result):
        value = row_perplexity(result)
        return ("" if value is None else f"{value:.4f}"), value

    def score(self, references, predictions, results, predictor, bootstrap):
        from ..tasks.generation import perplexity

        tokens = sum(len(result.logprobs) for result in results)
        metrics = GenerationMetrics(perplexity(results), tokens) if tokens else None
        per_row = [row_perplexity(result) for result in results]
        measured = [i for i, value in enumerate(per_row) if value is not None]
        return metrics, per_row, {}, sorted(measured, key=lambda i: -per_row[i])


def row_perplexity(result) -> float | None:
    """Perplexity of one text; None for a one-token text, which has nothing to predict."""
    from ..tasks.generation import perplexity

    return perplexity([result]) if result.logprobs else None


TASKS: dict[str, TaskEvaluation] = {task.name: task for task in (
    ClassificationEvaluation(), SentimentEvaluation(), ZeroShotEvaluation(), QAEvaluation(),
    TranslationEvaluation(), GenerationEvaluation())}


def task_named(name: str) -> TaskEvaluation:
    if name not in TASKS:
        raise InputError("unknown_task", "Unknown task '{task}'. Choose one of: {tasks}.", task=name,
                         tasks=", ".join(TASKS))
    return TASKS[name]


# --- the recipe --------------------------------------------------------------------------------

def prepare_data(task: TaskEvaluation, table: Table, columns: dict[str, str | None]) -> Rows:
    """Check that every role has a column of the file; rows with an empty required cell are skipped."""
    available = list(table.frame.columns)
    for role in task.roles:
        column = columns.get(role)
        if not column:
            raise InputError("missing_column", "Choose the {role} column (the file has: {columns}).", role=role,
                             columns=", ".join(available))
        if column not in available:
            raise InputError("unknown_column", "'{name}' has no column '{column}' (it has: {columns}).",
                             name=table.source_name, column=column, columns=", ".join(available))
    rows = Rows([], [], [])
    for position, record in enumerate(table.frame[[columns[role] for role in task.roles]].itertuples(index=False)):
        cells = dict(zip(task.roles, (str(value).strip() for value in record)))
        empty = [role for role in task.roles if not cells[role] and role not in task.optional_roles]
        if empty:
            rows.skipped[position] = f"empty_{empty[0]}"
            continue
        rows.positions.append(position)
        rows.inputs.append(task.input_of(cells))
        rows.references.append(task.reference_of(cells))
    if not rows.positions:
        raise InputError("nothing_to_evaluate", "No row of '{name}' has all of: {columns}.", name=table.source_name,
                         columns=", ".join(columns[role] for role in task.roles))
    return rows


def prepare_models(task: TaskEvaluation, models: list[Predictor | str], rows: Rows, registry=None,
                   budget: int | None = None, batch_size: int | None = None) -> list[Predictor]:
    """Load every model before running any, so an unknown model fails at once rather than after the first.

    Names and ids are resolved through `registry`, the deployment's models.yaml when none is given."""
    from ..loading import get_model
    from ..registry import Registry

    registry = registry or Registry.load()
    predictors = []
    for model in models:
        if not isinstance(model, Predictor):
            entry = registry.resolve(task.registry_task, model)
            model = task.predictor(get_model(entry, task.kind), entry, rows, budget)
        predictors.append(capped(model, batch_size) if batch_size else model)
    return predictors


def capped(predictor: Predictor, max_rows: int) -> Predictor:
    """At most `max_rows` rows per batch on top of the token budget: rows sorted by length, longest first,
    are handed to the model `max_rows` at a time."""
    def run(inputs: list[Any]) -> Iterator[tuple[list[int], list[Any]]]:
        order = sorted(range(len(inputs)), key=lambda i: -len(str(inputs[i])))
        for start in range(0, len(order), max_rows):
            chunk = order[start:start + max_rows]
            for indices, results in predictor.run([inputs[i] for i in chunk]):
                yield [chunk[i] for i in indices], results
    return Predictor(predictor.name, run, predictor.labels, predictor.device)


@dataclass
class _Outcome:
    """What calling one model has produced so far."""

    predictor: Predictor
    status: str = NOT_RUN
    error: str | None = None
    results: dict[int, Any] = field(default_factory=dict)  # input index -> model result
    batch_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0


class Evaluation:
    """One run: a task, a table, its column mapping and the models; step through it or call run()."""

    def __init__(self, task: str, table: Table, columns: dict[str, str | None], models: list[Predictor | str],
                 registry=None, budget: int | None = None, batch_size: int | None = None) -> None:
        self.task = task_named(task)
        self.table, self.columns = table, columns
        self.rows = prepare_data(self.task, table, columns)
        self.outcomes = [_Outcome(p) for p in prepare_models(self.task, models, self.rows, registry, budget,
                                                              batch_size)]

    def steps(self) -> Iterator[Progress]:
        """Call each model in turn, yielding progress after every batch; stop iterating to cancel."""
        total, done, started = len(self.rows.inputs) * len(self.outcomes), 0, time.perf_counter()
        for outcome in self.outcomes:
            outcome.status = RUNNING
            for rows_in_batch in self.call_model(outcome):
                done += rows_in_batch
                yield Progress(outcome.predictor.name, done, total, time.perf_counter() - started)
            done += len(self.rows.inputs) - len(outcome.results)  # a failed model's rows count as passed

    def call_model(self, outcome: _Outcome) -> Iterator[int]:
        """Run one model batch by batch, timing each; a failure keeps the rows that finished."""
        clock = time.perf_counter()
        batches = iter(outcome.predictor.run(self.rows.inputs))
        try:
            while True:
                started = time.perf_counter()
                batch = next(batches, None)
                if batch is None:
                    break
                outcome.batch_seconds.append(time.perf_counter() - started)
                outcome.seconds = time.perf_counter() - clock
                outcome.results.update(zip(*batch))
                yield len(batch[0])
            outcome.status = COMPLETE
        except GeneratorExit:
            outcome.status = CANCELLED
            raise
        except UserFacingError as error:
            outcome.status, outcome.error = FAILED, str(error)
        except Exception as error:  # noqa: BLE001 - keep what finished, say what failed
            outcome.status, outcome.error = FAILED, f"{type(error).__name__}: {error}"
        finally:
            outcome.seconds = time.perf_counter() - clock
            getattr(batches, "close", lambda: None)()

    def cancel(self) -> None:
        """Mark whatever has not finished as cancelled (the caller has stopped iterating steps())."""
        for outcome in self.outcomes:
            if outcome.status in (RUNNING, NOT_RUN):
                outcome.status = CANCELLED

    def result(self, bootstrap: int = 1000) -> EvaluationResult:
        """The results so far: complete after steps() ran out, partial when called before."""
        return EvaluationResult(self.task.name, self.table, self.columns,
                                [self.compute_metrics(outcome, bootstrap) for outcome in self.outcomes])

    def compute_metrics(self, outcome: _Outcome, bootstrap: int) -> ModelResult:
        """Score the rows this model finished; the rest of the table is reported as skipped or not finished."""
        finished = sorted(outcome.results)
        results = [outcome.results[i] for i in finished]
        cells = [self.task.prediction_of(result) for result in results]
        predictions = [prediction for prediction, _ in cells]
        references = [self.rows.references[i] for i in finished]
        metrics, scores, unknown, worst = (self.task.score(references, predictions, results, outcome.predictor,
                                                           bootstrap) if finished else (None, [], {}, []))
        count = len(self.table.frame)
        row_predictions: list[str | None] = [None] * count
        row_scores: list[float | None] = [None] * count
        row_status = [SKIPPED if position in self.rows.skipped else NOT_FINISHED for position in range(count)]
        for index, prediction, row_score in zip(finished, predictions, scores):
            position = self.rows.positions[index]
            row_predictions[position], row_scores[position], row_status[position] = prediction, row_score, DONE
        return ModelResult(outcome.predictor.name, outcome.status, outcome.error, row_predictions, row_scores,
                           row_status, metrics, self._timing(outcome, len(finished)), unknown,
                           [self.rows.positions[finished[i]] for i in worst[:WORST_ROWS]])

    @staticmethod
    def _timing(outcome: _Outcome, rows: int) -> Timing:
        import numpy as np

        latencies = outcome.batch_seconds or [0.0]
        return Timing(outcome.predictor.device, outcome.seconds,
                      rows / outcome.seconds if outcome.seconds > 0 else 0.0,
                      float(np.mean(latencies)), float(np.percentile(latencies, 95)), len(outcome.batch_seconds))


def evaluate(task: str, table: Table, columns: dict[str, str | None], models: list[Predictor | str], registry=None,
             on_progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
             budget: int | None = None, batch_size: int | None = None, bootstrap: int = 1000) -> EvaluationResult:
    """Evaluate models on a table; setting `cancel` stops after the current batch and keeps what finished."""
    run = Evaluation(task, table, columns, models, registry, budget, batch_size)
    steps = run.steps()
    for progress in steps:
        if on_progress:
            on_progress(progress)
        if cancel is not None and cancel.is_set():
            steps.close()
            run.cancel()
            break
    return run.result(bootstrap)
