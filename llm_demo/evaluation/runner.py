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
import heapq
import math
import re
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, UserFacingError
from . import metrics as scoring
from .reading import ROLES, Chunk, Table, TableFile, answers_in, open_table
from .robustness import (PERTURBATIONS, TASK_METRICS, Pair, PerturbationTally, PerturbedRows, RobustnessResult,
                         extra_rows, perturb_rows, text_of)
from .slices import CONFIDENT, SliceResult, SliceTally, column_slicer, proposed_slicers
from .store import RunFolder

Batches = Iterable[tuple[list[int], list[Any]]]
WORST_ROWS = 10
WINDOW_ROWS = 8192  # rows sorted and batched together; bench/run.py measures the padding per window size
INPUT_CHARS = 200  # of each input kept for the worst-rows table
STATE_VERSION = 1

DONE, SKIPPED, NOT_FINISHED = "done", "skipped", "not_finished"  # the status of a row, per model
ROW_FAILED = "failed"  # a row a model server could not answer, even after retries
COMPLETE, RUNNING, CANCELLED, FAILED, NOT_RUN = "complete", "running", "cancelled", "failed", "not_run"


@dataclass
class Predictor:
    """A model as the runner sees it: `run` maps a list of inputs to (input indices, results) batches."""

    name: str
    run: Callable[[list[Any]], Batches]
    labels: list[str] | None = None  # class names in id order, so "0", "1"... in a file match them
    device: str = "cpu"


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
    seconds: float  # model time, tokenizing included, in this process (a continued run: since it continued)
    rows_per_second: float
    mean_batch_seconds: float
    p95_batch_seconds: float
    batches: int


@dataclass(frozen=True)
class WorstRow:
    row: int  # 0-based data row of the table
    input: str  # shortened to INPUT_CHARS
    reference: str
    prediction: str
    score: float | None


@dataclass
class ModelResult:
    """One model over the table: counts of rows, metrics, and its worst rows (the predictions are in
    predictions.csv)."""

    model: str
    status: str  # complete, running, cancelled, failed, not_run
    error: str | None
    metrics: Any  # ClassificationMetrics, QAMetrics, TranslationMetrics, GenerationMetrics; None without rows
    timing: Timing
    unknown_labels: dict[str, int]  # reference labels the model does not know -> how many rows
    worst: list[WorstRow]  # worst first
    rows_done: int
    rows_not_finished: int  # rows it has not done (yet, or ever: cancelled, failed), skipped rows not counted
    rows_failed: int = 0  # rows a model server could not answer even after retries (among those not finished)
    robustness: list[RobustnessResult] = field(default_factory=list)  # per perturbation, when asked for
    slices: list[SliceResult] = field(default_factory=list)  # per slice, when asked for


@dataclass
class EvaluationResult:
    task: str
    table: Table | TableFile  # name, columns, rows and blank lines of the file; its rows are not kept
    columns: dict[str, str | None]
    models: list[ModelResult]
    rows_skipped: int  # rows with an empty required cell, left out for every model
    folder: Path  # holds predictions.csv, metrics.json and state.json

    @property
    def finished(self) -> bool:
        return all(model.status == COMPLETE and not model.rows_failed for model in self.models)

    @property
    def predictions_path(self) -> Path:
        return RunFolder(self.folder).predictions


@dataclass(frozen=True)
class GenerationMetrics:
    perplexity: float
    tokens: int


# --- what a model's finished rows add up to ------------------------------------------------------

class Tally:
    """The part of the metrics each row adds, as counts and sums: a few numbers per class or metric
    whatever the number of rows, saved whole in the state so a continued run ends where one run would."""

    def add(self, references: list[Any], predictions: list[str], results: list[Any]) -> list[float | None]:
        """Count these rows in (in table order); returns their per-row scores."""
        raise NotImplementedError

    def badness(self, reference: Any, prediction: str, score: float | None) -> float | None:
        """How bad a row is, for the worst rows (higher is worse); None when it is not a bad row at all."""
        raise NotImplementedError

    def wrong(self, reference: Any, prediction: str) -> bool | None:
        """Whether a prediction is wrong outright (for confident mistakes); None where the task has no such
        notion (a translation is more or less good)."""
        return None

    def metrics(self, bootstrap: int) -> Any:
        raise NotImplementedError

    def unknown_labels(self) -> dict[str, int]:
        return {}

    def state(self) -> dict:
        return dict(vars(self))

    def restore(self, state: dict) -> None:
        vars(self).update(state)


class ClassificationTally(Tally):
    """How many rows have each (reference as written, prediction) pair; references are matched to the
    model's labels at the end, when every prediction is known."""

    def __init__(self, labels: list[str] | None) -> None:
        self.labels = labels
        self.pairs: Counter[tuple[str, str]] = Counter()

    def add(self, references, predictions, results):
        self.pairs.update(zip((reference.strip() for reference in references), predictions))
        return [result.score for result in results]

    def badness(self, reference, prediction, score):
        return (score or 0.0) if self.wrong(reference, prediction) else None

    def wrong(self, reference, prediction):
        gold = match_label(reference, self.labels) if self.labels else reference.strip()
        return gold is not None and gold.casefold() != prediction.casefold()

    def _matched(self) -> tuple[list[str], dict[str, str | None]]:
        names = self.labels or sorted({prediction for _, prediction in self.pairs})
        return names, {reference: match_label(reference, names) for reference, _ in self.pairs}

    def metrics(self, bootstrap):
        names, matched = self._matched()
        counts = Counter()
        for (reference, prediction), count in self.pairs.items():
            if matched[reference] is not None:
                counts[matched[reference], prediction] += count
        if not counts:
            return None
        present = {label for pair in counts for label in pair}
        return scoring.metrics_from_counts(counts, [label for label in names if label in present], bootstrap)

    def unknown_labels(self):
        _, matched = self._matched()
        unknown = Counter()
        for (reference, _), count in self.pairs.items():
            if matched[reference] is None:
                unknown[reference] += count
        return dict(unknown)

    def state(self):
        return {"pairs": [[reference, prediction, count] for (reference, prediction), count in self.pairs.items()]}

    def restore(self, state):
        self.pairs = Counter({(reference, prediction): count for reference, prediction, count in state["pairs"]})


class QATally(Tally):
    def __init__(self) -> None:
        self.rows, self.exact_match, self.f1 = 0, 0.0, 0.0

    def add(self, references, predictions, results):
        per_row = [scoring.qa_score(prediction, answers) for prediction, answers in zip(predictions, references)]
        self.rows += len(per_row)
        self.exact_match += math.fsum(row.exact_match for row in per_row)
        self.f1 += math.fsum(row.f1 for row in per_row)
        return [row.f1 for row in per_row]

    def badness(self, reference, prediction, score):
        return 1 - score if score < 1 else None

    def wrong(self, reference, prediction):
        return scoring.qa_score(prediction, reference).exact_match == 0

    def metrics(self, bootstrap):
        return scoring.QAMetrics(self.exact_match / self.rows, self.f1 / self.rows) if self.rows else None


class TranslationTally(Tally):
    def __init__(self) -> None:
        self.statistics = scoring.TranslationStatistics()

    def add(self, references, predictions, results):
        return self.statistics.add(references, predictions)

    def badness(self, reference, prediction, score):
        return -score

    def metrics(self, bootstrap):
        return self.statistics.metrics() if self.statistics.sums else None

    def state(self):
        return vars(self.statistics)

    def restore(self, state):
        self.statistics = scoring.TranslationStatistics(**state)


class GenerationTally(Tally):
    def __init__(self) -> None:
        self.log_likelihood, self.tokens = 0.0, 0

    def add(self, references, predictions, results):
        for result in results:
            self.log_likelihood += result.total
            self.tokens += len(result.logprobs)
        return [row_perplexity(result) for result in results]

    def badness(self, reference, prediction, score):
        return score

    def metrics(self, bootstrap):
        return GenerationMetrics(math.exp(-self.log_likelihood / self.tokens), self.tokens) if self.tokens else None


class WorstRows:
    """The `size` worst rows seen so far, in a heap: memory bounded however many rows go by. Ties go to
    the earlier row."""

    def __init__(self, size: int = WORST_ROWS) -> None:
        self.size = size
        self.heap: list[tuple[float, int, WorstRow]] = []  # (badness, -row, the row): the least bad on top

    def offer(self, badness: float | None, row: int, describe: Callable[[], WorstRow]) -> None:
        """Keep the row if it is among the worst; `describe` builds its shown cells only then."""
        if badness is None:
            return
        key = (badness, -row)
        if len(self.heap) < self.size:
            heapq.heappush(self.heap, (*key, describe()))
        elif key > self.heap[0][:2]:
            heapq.heapreplace(self.heap, (*key, describe()))

    def rows(self) -> list[WorstRow]:
        return [entry[2] for entry in sorted(self.heap, key=lambda entry: entry[:2], reverse=True)]

    def state(self) -> list:
        return [[badness, -minus_row, vars(row)] for badness, minus_row, row in self.heap]

    def restore(self, state: list) -> None:
        self.heap = [(badness, -row, WorstRow(**cells)) for badness, row, cells in state]
        heapq.heapify(self.heap)


# --- one class per task: what the recipe needs to know ------------------------------------------

class TaskEvaluation:
    """The parts of an evaluation that differ by task; the base class reads single-text rows."""

    name = ""
    registry_task = ""  # where its models are listed in models.yaml
    kind = ""  # what loading.get_model loads
    score_name = ""  # what the per-row score is
    optional_roles: tuple[str, ...] = ()  # roles whose cell may be empty
    reads_labels_first = False  # whether its models need every label of the file before the first row

    @property
    def roles(self) -> tuple[str, ...]:
        return ROLES[self.name]

    @property
    def shown_roles(self) -> tuple[str, ...]:
        """The cells the worst-rows table shows: the input, then the reference (if the task has one)."""
        return self.roles

    def input_of(self, cells: dict[str, str]) -> Any:
        return cells["text"]

    def evaluable(self, cells: dict[str, str]) -> bool:
        """Whether a row has every cell the task needs (cells by role)."""
        return all(cells[role] or role in self.optional_roles for role in self.roles)

    def reference_of(self, cells: dict[str, str]) -> Any:
        return cells.get("label")

    def predictor(self, loaded, entry, file_labels: list[str], budget: int | None) -> Predictor:
        raise NotImplementedError

    def prediction_of(self, result: Any) -> tuple[str, float | None]:
        """The prediction cell and the per-row score of one model result."""
        raise NotImplementedError

    def tally(self, predictor: Predictor) -> Tally:
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

    def predictor(self, loaded, entry, file_labels, budget):
        from ..tasks.classification import encode, iter_classify, label_names

        return Predictor(entry.name, lambda texts: iter_classify(loaded, encode(loaded, texts), budget),
                         labels=label_names(loaded), device=loaded.placement)

    def prediction_of(self, result):
        return result.label, result.score

    def tally(self, predictor):
        return ClassificationTally(predictor.labels)


class SentimentEvaluation(ClassificationEvaluation):
    name, registry_task = "sentiment", "sentiment"


class ZeroShotEvaluation(ClassificationEvaluation):
    """Classification with an NLI model whose candidate labels are the labels found in the file."""

    name, registry_task = "zero-shot", "classification"
    reads_labels_first = True

    def predictor(self, loaded, entry, file_labels, budget):
        from ..tasks.classification import iter_zero_shot, parse_labels

        labels = parse_labels(file_labels, multi_label=False)
        return Predictor(entry.name, lambda texts: iter_zero_shot(loaded, texts, labels, budget=budget),
                         labels=labels, device=loaded.placement)


def candidate_labels(references: Iterable[str]) -> list[str]:
    """Each distinct label of a file once (ignoring case), as first written, in order of first appearance."""
    seen: dict[str, str] = {}
    for label in references:
        seen.setdefault(label.strip().casefold(), label.strip())
    return list(seen.values())


class QAEvaluation(TaskEvaluation):
    name, registry_task, kind, score_name = "qa", "qa", "question-answering", "f1"
    optional_roles = ("answer",)  # an empty answer cell: the context has no answer
    shown_roles = ("question", "answer")

    def input_of(self, cells):
        return cells["question"], cells["context"]

    def reference_of(self, cells):
        return answers_in(cells["answer"])

    def predictor(self, loaded, entry, file_labels, budget):
        from ..tasks.qa import QASettings, iter_answer

        settings = QASettings(allow_no_answer=bool(entry.option("no_answer")))
        return Predictor(entry.name, lambda pairs: iter_answer(loaded, [q for q, _ in pairs], [c for _, c in pairs],
                                                               settings, budget), device=loaded.placement)

    def prediction_of(self, result):
        return result[0].text, result[0].score

    def tally(self, predictor):
        return QATally()


class TranslationEvaluation(TaskEvaluation):
    name, registry_task, kind, score_name = "translation", "translation", "seq2seq", "chrf"

    def input_of(self, cells):
        return cells["source"]

    def reference_of(self, cells):
        return cells["reference"]

    def predictor(self, loaded, entry, file_labels, budget):
        from ..tasks.translation import TranslationSettings

        settings = TranslationSettings(source_lang=entry.option("source_lang"), target_lang=entry.option("target_lang"))
        return Predictor(entry.name, lambda texts: iter_translate_rows(loaded, texts, settings, budget),
                         device=loaded.placement)

    def prediction_of(self, result):
        return result, None

    def tally(self, predictor):
        return TranslationTally()


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

    def predictor(self, loaded, entry, file_labels, budget):
        from ..tasks.generation import iter_token_logprobs

        return Predictor(entry.name, lambda texts: iter_token_logprobs(loaded, texts, budget),
                         device=loaded.placement)

    def prediction_of(self, result):
        value = row_perplexity(result)
        return ("" if value is None else f"{value:.4f}"), value

    def tally(self, predictor):
        return GenerationTally()


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

@dataclass
class Window:
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


@dataclass(frozen=True)
class BeyondAccuracy:
    """What to measure besides the metrics: robustness to perturbed inputs, and metrics per slice."""

    robustness: bool = False
    slice_column: str | None = None  # a column of the file whose values are the slices
    propose_slices: bool = False  # slices by text length, digits and writing system
    seed: int = 0  # of the perturbations' random choices

    @property
    def asked(self) -> bool:
        return self.robustness or bool(self.slice_column) or self.propose_slices


def check_columns(task: TaskEvaluation, table: Table | TableFile, columns: dict[str, str | None]) -> list[int]:
    """Every role of the task has a column of the file; returns their positions, in role order."""
    for role in task.roles:
        column = columns.get(role)
        if not column:
            raise InputError("missing_column", "Choose the {role} column (the file has: {columns}).", role=role,
                             columns=", ".join(table.columns))
        if column not in table.columns:
            raise InputError("unknown_column", "'{name}' has no column '{column}' (it has: {columns}).",
                             name=table.source_name, column=column, columns=", ".join(table.columns))
    return [table.columns.index(columns[role]) for role in task.roles]


def prepare_models(task: TaskEvaluation, models: list[Predictor | str], file_labels: list[str], registry=None,
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
            loaded = get_model(entry, task.kind)
            model = (remote_predictor(task, loaded, entry, file_labels) if entry.endpoint
                     else task.predictor(loaded, entry, file_labels, budget))
        predictors.append(capped(model, batch_size) if batch_size else model)
    return predictors


def remote_predictor(task: TaskEvaluation, loaded, entry, file_labels: list[str]) -> Predictor:
    """A model on a server: rows go out concurrently, at most the entry's max_concurrency at a time. A row
    that still fails after retries comes back as its error, which the recipe records as a failed row."""
    from ..remote import served
    from ..tasks.qa import QASettings
    from ..tasks.translation import TranslationSettings

    labels = file_labels if task.name == "zero-shot" else list(loaded.labels) or None
    qa = QASettings(allow_no_answer=bool(entry.option("no_answer")))
    translation = TranslationSettings(source_lang=entry.option("source_lang"), target_lang=entry.option("target_lang"))
    runs = {
        "classification": lambda texts: served.iter_classify(loaded, texts),
        "sentiment": lambda texts: served.iter_classify(loaded, texts),
        "zero-shot": lambda texts: served.iter_zero_shot(loaded, texts, labels),
        "qa": lambda pairs: served.iter_answer(loaded, [q for q, _ in pairs], [c for _, c in pairs], qa),
        "translation": lambda texts: served.iter_translate(loaded, texts, translation),
        "generation": lambda texts: served.iter_token_logprobs(loaded, texts),
    }
    return Predictor(entry.name, runs[task.name], labels=labels, device=loaded.device)


def _failed_rows(results: dict[int, Any]) -> dict[int, UserFacingError]:
    """The inputs a model server could not answer: their result is the error."""
    return {index: result for index, result in results.items() if isinstance(result, UserFacingError)}


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


def perturbed_copies(task: str, table: Table | TableFile, columns: dict[str, str | None],
                     seed: int = 0) -> tuple[int, int]:
    """(rows evaluated, perturbed copies of them) in `table`: what a robustness run adds to each model's calls.
    On the head of a file, an estimate for the whole of it."""
    evaluation = task_named(task)
    positions = check_columns(evaluation, table, columns)
    inputs = []
    for chunk in table.chunks():
        for row in chunk.rows:
            cells = {role: row[position].strip() for role, position in zip(evaluation.roles, positions)}
            if evaluation.evaluable(cells):
                inputs.append(evaluation.input_of(cells))
    return len(inputs), extra_rows(perturb_rows(inputs, seed))


@dataclass
class _Outcome:
    """What calling one model has produced so far: the tally of the saved windows, and the results of the
    window under way."""

    predictor: Predictor
    tally: Tally
    worst: WorstRows = field(default_factory=WorstRows)
    perturbations: list[PerturbationTally] = field(default_factory=list)
    slices: SliceTally | None = None
    status: str = NOT_RUN
    error: str | None = None
    rows_done: int = 0
    rows_before: int = 0  # done by the earlier processes of a continued run, which timing leaves out
    rows_failed: int = 0
    failure: str | None = None  # why the first failed row failed
    results: dict[int, Any] = field(default_factory=dict)  # input of the current window -> model result
    batch_seconds: array = field(default_factory=lambda: array("d"))
    seconds: float = 0.0

    def state(self) -> dict:
        return {"status": self.status, "error": self.error, "rows_done": self.rows_done,
                "rows_failed": self.rows_failed, "failure": self.failure,
                "tally": self.tally.state(), "worst": self.worst.state(),
                "perturbations": [tally.state() for tally in self.perturbations],
                "slices": self.slices.state() if self.slices else None}

    def restore(self, state: dict) -> None:
        self.status = state["status"] if state["status"] in (FAILED, COMPLETE) else NOT_RUN
        self.error, self.rows_done = state["error"], state["rows_done"]
        self.rows_failed, self.failure = state.get("rows_failed", 0), state.get("failure")
        self.rows_before = self.rows_done
        self.tally.restore(state["tally"])
        self.worst.restore(state["worst"])
        for tally, saved in zip(self.perturbations, state["perturbations"]):
            tally.restore(saved)
        if self.slices:
            self.slices.restore(state["slices"])


class Evaluation:
    """One run: a task, a table, its column mapping and the models, writing into `folder`; step through it
    (steps, then finish) or call evaluate(). With resume=True it continues the run stopped in `folder`."""

    def __init__(self, task: str, table: Table | TableFile | str | Path, columns: dict[str, str | None],
                 models: list[Predictor | str], folder: str | Path, registry=None, budget: int | None = None,
                 batch_size: int | None = None, resume: bool = False, window: int = WINDOW_ROWS,
                 beyond: BeyondAccuracy | None = None) -> None:
        self.task = task_named(task)
        self.table = table if isinstance(table, (Table, TableFile)) else open_table(table)
        self.columns, self.window = columns, window
        self.role_columns = check_columns(self.task, self.table, columns)
        self.beyond = beyond or BeyondAccuracy()
        if self.beyond.asked and self.task.name not in TASK_METRICS:
            raise InputError("nothing_to_compare", "Robustness and slices compare predictions with references; "
                             "{task} has none.", task=self.task.name)
        self.store = RunFolder(folder)
        self.identity = {"version": STATE_VERSION, "file": self.table.fingerprint(), "rows": self.table.rows,
                         "task": self.task.name, "columns": [columns[role] for role in self.task.roles],
                         "models": [m.name if isinstance(m, Predictor) else m for m in models],
                         "window": window, "batch_size": batch_size, "budget": budget,
                         "beyond": vars(self.beyond)}
        saved = self._saved_state() if resume else None
        if saved is None:
            self._check_something_to_evaluate()
        labels = candidate_labels(self._column_cells("label")) if self.task.reads_labels_first else []
        self.slicers = self._slicers()
        self.outcomes = [self._outcome(p) for p in prepare_models(self.task, models, labels, registry, budget,
                                                                   batch_size)]
        self.next_row, self.rows_skipped, self.current = 0, 0, None
        if saved is None:
            self.store.start(self._header())
            self._commit(finished=False)
        else:
            self.store.continue_from(saved)
            self.next_row, self.rows_skipped = saved["next_row"], saved["rows_skipped"]
            for outcome, state in zip(self.outcomes, saved["models"]):
                outcome.restore(state)

    # --- setting up

    def _saved_state(self) -> dict:
        saved = self.store.saved_state()
        if saved is None:
            raise InputError("nothing_to_resume", "There is no stopped run to continue in '{folder}'.",
                             folder=str(self.store.folder))
        different = [key for key, value in self.identity.items() if saved.get("identity", {}).get(key) != value]
        if different:
            raise InputError("resume_mismatch", "The run in '{folder}' was started with another {what}; run without "
                             "resuming to start over.", folder=str(self.store.folder), what=", ".join(different))
        return saved

    def _role_cells(self, chunk: Chunk) -> Iterator[dict[str, str]]:
        for row in chunk.rows:
            yield {role: row[column].strip() for role, column in zip(self.task.roles, self.role_columns)}

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
        """Slice column -> (the slice of a cell, the cell's column; None for the input's text), from a pass
        over the table, since quartiles need every value first."""
        slicers: dict[str, tuple[Callable[[str], str], int | None]] = {}
        column = self.beyond.slice_column
        if column:
            if column not in self.table.columns:
                raise InputError("unknown_column", "'{name}' has no column '{column}' (it has: {columns}).",
                                 name=self.table.source_name, column=column, columns=", ".join(self.table.columns))
            position = self.table.columns.index(column)
            slicers[column] = column_slicer(column, (row[position] for row, _ in self._evaluated_rows())), position
        if self.beyond.propose_slices:
            texts = (text_of(self.task.input_of(cells)) for _, cells in self._evaluated_rows())
            slicers.update((name, (slicer, None)) for name, slicer in proposed_slicers(texts).items())
        return slicers

    def _outcome(self, predictor: Predictor) -> _Outcome:
        """A model's outcome, with a tally per perturbation and per slice when those are asked for."""
        def make_tally() -> Tally:
            return self.task.tally(predictor)

        perturbations = [PerturbationTally(name, self.task.name, make_tally)
                         for name in (PERTURBATIONS if self.beyond.robustness else ())]
        return _Outcome(predictor, make_tally(), perturbations=perturbations,
                        slices=SliceTally(make_tally) if self.slicers else None)

    def _evaluable(self, cells: dict[str, str]) -> bool:
        return self.task.evaluable(cells)

    def _check_something_to_evaluate(self) -> None:
        """Stop at the first row that has every cell it needs (usually the first row); refuse when none has."""
        if not any(self._evaluable(cells) for chunk in self.table.chunks() for cells in self._role_cells(chunk)):
            raise InputError("nothing_to_evaluate", "No row of '{name}' has all of: {columns}.",
                             name=self.table.source_name, columns=", ".join(self.identity["columns"]))

    def _header(self) -> list[str]:
        """The file's columns, then per model its prediction, score and row status; `prediction` is the first
        model's, and with several models each also gets `prediction [model]`."""
        header = list(self.table.columns)
        several = len(self.outcomes) > 1
        for index, outcome in enumerate(self.outcomes):
            suffix = f" [{outcome.predictor.name}]" if several else ""
            header += ["prediction"] if index == 0 else []
            header += [f"prediction{suffix}"] if several else []
            header += [f"{self.task.score_name}{suffix}"] if self._writes_score else []
            header.append(f"status{suffix}")
        return header

    @property
    def _writes_score(self) -> bool:
        return self.task.score_name not in ("", "perplexity")  # a perplexity is the prediction itself

    def _window(self, chunk: Chunk) -> Window:
        window = Window(chunk.start, chunk.rows)
        for row, cells in enumerate(self._role_cells(chunk)):
            if not self._evaluable(cells):
                window.skipped.add(row)
                continue
            window.rows.append(row)
            window.inputs.append(self.task.input_of(cells))
            window.references.append(self.task.reference_of(cells))
        if self.beyond.robustness:
            window.perturbed = perturb_rows(window.inputs, self.beyond.seed)
            window.inputs = window.inputs + [item for perturbed in window.perturbed for item in perturbed.inputs]
        return window

    # --- running

    def steps(self) -> Iterator[Progress]:
        """Run the models window by window, yielding progress after every batch; stop iterating to cancel."""
        total = (self.table.rows - self.next_row) * len(self.outcomes)
        done, started = 0, time.perf_counter()
        for chunk in self.table.chunks(self.window, self.next_row):
            self.current = window = self._window(chunk)
            done += len(window.skipped) * len(self.outcomes)
            for outcome in self.outcomes:
                if outcome.status != FAILED:
                    outcome.status = RUNNING
                    for rows_in_batch in self.call_model(outcome, window):
                        done += rows_in_batch
                        yield Progress(outcome.predictor.name, done, total, time.perf_counter() - started)
                done += len(window.rows) - window.row_inputs(outcome.results)  # a failed model's rows count as passed
            self._fold(window)
            self._commit(finished=False)
        for outcome in self.outcomes:
            if outcome.status in (RUNNING, NOT_RUN):
                outcome.status = COMPLETE
        self._commit(finished=True)

    def call_model(self, outcome: _Outcome, window: Window) -> Iterator[int]:
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

    def _fold(self, window: Window) -> None:
        """Add the window's results to each model's tally and worst rows, and its rows to predictions.csv."""
        columns: list[list[list[Any]]] = []  # per model, per window row: prediction, score, status
        for outcome in self.outcomes:
            columns.append(self._fold_model(outcome, outcome.tally, outcome.worst, window))
            self._fold_beyond(outcome, outcome.perturbations, outcome.slices, window)
            failed = _failed_rows(outcome.results)
            failed_rows = window.row_inputs(failed)
            outcome.rows_done += window.row_inputs(outcome.results) - failed_rows
            outcome.rows_failed += failed_rows
            outcome.failure = outcome.failure or next((str(error) for error in failed.values()), None)
            outcome.results = {}
        self.rows_skipped += len(window.skipped)
        several = len(self.outcomes) > 1
        rows = []
        for row, cells in enumerate(window.cells):
            out = list(cells)
            for index, model_columns in enumerate(columns):
                prediction, score, status = model_columns[row]
                out += [prediction] if index == 0 else []
                out += [prediction] if several else []
                out += [score] if self._writes_score else []
                out.append(status)
            rows.append(out)
        self.store.append(rows)
        self.next_row = window.start + len(window.cells)
        self.current = None

    def _fold_model(self, outcome: _Outcome, tally: Tally, worst: WorstRows, window: Window) -> list[list[Any]]:
        """Count one model's finished rows of the window into `tally` and `worst`; its three cells per row."""
        failed = _failed_rows(outcome.results)
        finished = sorted(i for i in outcome.results if i < len(window.rows) and i not in failed)
        results = [outcome.results[i] for i in finished]
        predictions = [self.task.prediction_of(result)[0] for result in results]
        references = [window.references[i] for i in finished]
        scores = tally.add(references, predictions, results) if finished else []
        cells = [["", "", SKIPPED if row in window.skipped else NOT_FINISHED] for row in range(len(window.cells))]
        for index, prediction, reference, score in zip(finished, predictions, references, scores):
            row = window.rows[index]
            cells[row] = [prediction, "" if score is None else round(score, 4), DONE]
            worst.offer(tally.badness(reference, prediction, score), window.start + row,
                        lambda: self._worst_row(window, row, prediction, score))
        for index in failed:
            if index < len(window.rows):  # a perturbed copy has no cell of its own
                cells[window.rows[index]] = ["", "", ROW_FAILED]
        return cells

    def _fold_beyond(self, outcome: _Outcome, perturbations: list[PerturbationTally], slices: SliceTally | None,
                     window: Window) -> None:
        """Count one model's finished rows of the window into its perturbation and slice tallies."""
        failed = _failed_rows(outcome.results)
        results = {i: result for i, result in outcome.results.items() if i not in failed}
        start = len(window.rows)
        for tally, perturbed in zip(perturbations, window.perturbed):
            tally.add([Pair(window.start + window.rows[i], window.references[i], window.inputs[i], item, results[i],
                            results[start + j])
                       for j, (i, item) in enumerate(zip(perturbed.rows, perturbed.inputs))
                       if i in results and start + j in results], self.task.prediction_of)
            start += len(perturbed.rows)
        if slices is None:
            return
        finished = sorted(i for i in results if i < len(window.rows))
        cells = [self.task.prediction_of(results[i]) for i in finished]
        predictions = [prediction for prediction, _ in cells]
        references = [window.references[i] for i in finished]
        wrong = [outcome.tally.wrong(reference, prediction) for reference, prediction in zip(references, predictions)]
        confident = None if None in wrong else [w and (score or 0) > CONFIDENT for w, (_, score) in zip(wrong, cells)]
        for column, (slicer, position) in self.slicers.items():
            groups = [slicer(window.cells[window.rows[i]][position] if position is not None
                             else text_of(window.inputs[i])) for i in finished]
            slices.add(column, groups, references, predictions, [results[i] for i in finished], confident)

    def _worst_row(self, window: Window, row: int, prediction: str, score: float | None) -> WorstRow:
        shown = [window.cells[row][self.table.columns.index(self.columns[role])] for role in self.task.shown_roles]
        text = " | ".join(shown[:-1] if len(shown) > 1 else shown)
        reference = shown[-1] if len(shown) > 1 else ""
        shorten = (lambda s: s if len(s) <= INPUT_CHARS else s[:INPUT_CHARS - 1] + "…")
        return WorstRow(window.start + row, shorten(text), shorten(reference), prediction,
                        None if score is None else round(score, 4))

    def _commit(self, finished: bool) -> None:
        self.store.commit({"identity": self.identity, "next_row": self.next_row, "rows_skipped": self.rows_skipped,
                           "finished": finished, "models": [outcome.state() for outcome in self.outcomes]})

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
            self._fold(Window(chunk.start, chunk.rows, skipped={
                row for row, cells in enumerate(self._role_cells(chunk)) if not self._evaluable(cells)}))

    def result(self, bootstrap: int = 1000) -> EvaluationResult:
        """The results so far: complete after steps() ran out, partial (the window under way included) before."""
        return EvaluationResult(self.task.name, self.table, self.columns,
                                [self._model_result(outcome, bootstrap) for outcome in self.outcomes],
                                self._rows_skipped(), self.store.folder)

    def _model_result(self, outcome: _Outcome, bootstrap: int) -> ModelResult:
        tally, worst, done, failed = outcome.tally, outcome.worst, outcome.rows_done, outcome.rows_failed
        failure = outcome.failure
        perturbations, slices = outcome.perturbations, outcome.slices
        if self.current is not None and outcome.results:
            tally, worst, perturbations, slices = copy.deepcopy((tally, worst, perturbations, slices))
            self._fold_model(outcome, tally, worst, self.current)
            self._fold_beyond(outcome, perturbations, slices, self.current)
            failing = _failed_rows(outcome.results)
            failing_rows = self.current.row_inputs(failing)
            done = done + self.current.row_inputs(outcome.results) - failing_rows
            failed += failing_rows
            failure = failure or next((str(error) for error in failing.values()), None)
        not_finished = self.table.rows - self._rows_skipped() - done
        error = outcome.error or (f"{failed} rows failed: {failure}" if failed else None)
        metrics = tally.metrics(bootstrap)
        return ModelResult(outcome.predictor.name, outcome.status, error, metrics,
                           self._timing(outcome, done - outcome.rows_before), tally.unknown_labels(), worst.rows(),
                           done, not_finished, failed, [perturbation.result(bootstrap) for perturbation in perturbations],
                           slices.results(TASK_METRICS[self.task.name], metrics, bootstrap) if slices else [])

    def _rows_skipped(self) -> int:
        """Rows skipped so far, in the windows read (the window under way included)."""
        return self.rows_skipped + (len(self.current.skipped) if self.current else 0)

    @staticmethod
    def _timing(outcome: _Outcome, rows: int) -> Timing:
        import numpy as np

        latencies = outcome.batch_seconds or [0.0]
        return Timing(outcome.predictor.device, outcome.seconds,
                      rows / outcome.seconds if outcome.seconds > 0 else 0.0,
                      float(np.mean(latencies)), float(np.percentile(latencies, 95)), len(outcome.batch_seconds))


def evaluate(task: str, table: Table | TableFile | str | Path, columns: dict[str, str | None],
             models: list[Predictor | str], folder: str | Path, registry=None,
             on_progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
             budget: int | None = None, batch_size: int | None = None, bootstrap: int = 1000, resume: bool = False,
             window: int = WINDOW_ROWS, beyond: BeyondAccuracy | None = None) -> EvaluationResult:
    """Evaluate models on a table, writing predictions.csv into `folder` as rows finish; setting `cancel`
    stops after the current batch and keeps what finished."""
    run = Evaluation(task, table, columns, models, folder, registry, budget, batch_size, resume, window, beyond)
    steps = run.steps()
    for progress in steps:
        if on_progress:
            on_progress(progress)
        if cancel is not None and cancel.is_set():
            steps.close()
            break
    run.finish()
    return run.result(bootstrap)
