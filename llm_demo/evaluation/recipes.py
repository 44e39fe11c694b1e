"""What differs between tasks when evaluating, one small class each: which cells a row needs, what the model
reads and what it is compared with, which Model operation predicts, and how a prediction is tallied. The run
loop (run.py) is written once for all of them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from ..errors import InputError
from ..models import get_model
from ..models.types import QASettings, TranslationSettings
from ..registry import Registry
from ..tasks.classification import parse_labels
from .answers import AnswersEvaluation
from .columns import answers_in
from .reading import Table, TableFile, column_position
from .results import Predictor
from .robustness import PERTURBATIONS, TASK_METRICS, extra_rows, perturb_rows
from .swaps import checked_families, swap_name
from .tallies import ClassificationTally, GenerationTally, QATally, TranslationTally, row_perplexity
from .task import TaskEvaluation


class ClassificationEvaluation(TaskEvaluation):
    name, registry_task, score_name = "classification", "classification", "score"

    def predictor(self, model, entry, file_labels, budget):
        return Predictor(
            entry.name, lambda texts: model.classify(texts, budget), labels=model.labels or None, device=model.placement
        )

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

    def predictor(self, model, entry, file_labels, budget):
        labels = parse_labels(file_labels, multi_label=False)
        return Predictor(
            entry.name,
            lambda texts: model.zero_shot(texts, labels, budget=budget),
            labels=labels,
            device=model.placement,
        )


def candidate_labels(references: Iterable[str]) -> list[str]:
    """Each distinct label of a file once (ignoring case), as first written, in order of first appearance."""
    seen: dict[str, str] = {}
    for label in references:
        seen.setdefault(label.strip().casefold(), label.strip())
    return list(seen.values())


class QAEvaluation(TaskEvaluation):
    name, registry_task, score_name = "qa", "qa", "f1"
    optional_roles = ("answer",)  # an empty answer cell: the context has no answer
    shown_roles = ("question", "answer")

    def input_of(self, cells):
        return cells["question"], cells["context"]

    def reference_of(self, cells):
        return answers_in(cells["answer"])

    def predictor(self, model, entry, file_labels, budget):
        settings = QASettings(allow_no_answer=bool(entry.option("no_answer")))
        return Predictor(
            entry.name,
            lambda pairs: model.answer([q for q, _ in pairs], [c for _, c in pairs], settings, budget),
            device=model.placement,
        )

    def prediction_of(self, result):
        return result[0].text, result[0].score

    def tally(self, predictor):
        return QATally()


class TranslationEvaluation(TaskEvaluation):
    name, registry_task, score_name = "translation", "translation", "chrf"

    def input_of(self, cells):
        return cells["source"]

    def reference_of(self, cells):
        return cells["reference"]

    def predictor(self, model, entry, file_labels, budget):
        settings = TranslationSettings(source_lang=entry.option("source_lang"), target_lang=entry.option("target_lang"))
        return Predictor(entry.name, lambda texts: model.translate(texts, settings, budget), device=model.placement)

    def prediction_of(self, result):
        return result, None

    def tally(self, predictor):
        return TranslationTally()


class GenerationEvaluation(TaskEvaluation):
    name, registry_task, score_name = "generation", "generation", "perplexity"

    def reference_of(self, cells):
        return None

    def predictor(self, model, entry, file_labels, budget):
        return Predictor(entry.name, lambda texts: model.token_logprobs(texts, budget), device=model.placement)

    def prediction_of(self, result):
        value = row_perplexity(result)
        return ("" if value is None else f"{value:.4f}"), value

    def tally(self, predictor):
        return GenerationTally()


EVALUATIONS: dict[str, TaskEvaluation] = {
    task.name: task
    for task in (
        ClassificationEvaluation(),
        SentimentEvaluation(),
        ZeroShotEvaluation(),
        QAEvaluation(),
        TranslationEvaluation(),
        GenerationEvaluation(),
        AnswersEvaluation(),
    )
}


def task_named(name: str) -> TaskEvaluation:
    if name not in EVALUATIONS:
        raise InputError(
            "unknown_task", "Unknown task '{task}'. Choose one of: {tasks}.", task=name, tasks=", ".join(EVALUATIONS)
        )
    return EVALUATIONS[name]


@dataclass(frozen=True)
class BeyondAccuracy:
    """What to measure besides the metrics: robustness to perturbed inputs, and metrics per slice."""

    robustness: bool = False
    slice_column: str | None = None  # a column of the file whose values are the slices
    propose_slices: bool = False  # slices by text length, digits and writing system
    seed: int = 0  # of the perturbations' random choices
    swap_terms: tuple[str, ...] = ()  # families of identity terms swapped in a copy of each row (swaps.FAMILIES)

    @property
    def asked(self) -> bool:
        return self.robustness or bool(self.slice_column) or self.propose_slices or bool(self.swap_terms)

    @property
    def perturbations(self) -> tuple[str, ...]:
        """What changes a copy of each row: the robustness perturbations, then the swaps of identity terms."""
        return (tuple(PERTURBATIONS) if self.robustness else ()) + tuple(swap_name(f) for f in self.swap_terms)

    def checked_for(self, task: TaskEvaluation, columns: dict[str, str | None]) -> BeyondAccuracy:
        """Refuse what the task cannot measure: robustness needs a task whose predictions perturbations can
        flip, slices a metric to slice."""
        if self.asked and not task.slice_metrics(columns):
            raise InputError(
                "nothing_to_compare",
                "Robustness and slices compare predictions with references; {task} has none.",
                task=task.name,
            )
        if self.perturbations and task.name not in TASK_METRICS:
            raise InputError(
                "no_robustness_for_task",
                "Robustness runs for classification, question answering and translation, not for {task}.",
                task=task.name,
            )
        return replace(self, swap_terms=checked_families(tuple(self.swap_terms)))


def check_columns(task: TaskEvaluation, table: Table | TableFile, columns: dict[str, str | None]) -> list[int | None]:
    """Every role of the task has a column of the file, but those it can do without; returns their positions
    in role order (None: no such column)."""
    for role in task.roles:
        column = columns.get(role)
        if not column and role in task.optional_columns:
            continue
        if not column:
            raise InputError(
                "missing_column",
                "Choose the {role} column (the file has: {columns}).",
                role=role,
                columns=", ".join(table.columns),
            )
        column_position(table, column)
    return [table.columns.index(columns[role]) if columns.get(role) else None for role in task.roles]


def role_cells(task: TaskEvaluation, row: list[str], positions: list[int | None]) -> dict[str, str]:
    """A row's cells by role, stripped; a role without a column has an empty cell."""
    return {
        role: row[position].strip() if position is not None else "" for role, position in zip(task.roles, positions)
    }


def prepare_models(
    task: TaskEvaluation,
    models: list[Predictor | str],
    file_labels: list[str],
    registry=None,
    budget: int | None = None,
    batch_size: int | None = None,
) -> list[Predictor]:
    """Load every model before running any, so an unknown model fails at once rather than after the first.

    Names and ids are resolved through `registry`, the deployment's models.yaml when none is given."""
    registry = registry or Registry.load()
    predictors = []
    for model in models:
        if not isinstance(model, Predictor):
            entry = registry.resolve(task.registry_task, model)
            model = task.predictor(get_model(entry, task.kind), entry, file_labels, budget)
        predictors.append(at_most_rows(model, batch_size) if batch_size else model)
    return predictors


def at_most_rows(predictor: Predictor, max_rows: int) -> Predictor:
    """At most `max_rows` rows per batch on top of the token budget: rows sorted by length, longest first,
    are handed to the model `max_rows` at a time."""

    def run(inputs: list[Any]) -> Iterator[tuple[list[int], list[Any]]]:
        order = sorted(range(len(inputs)), key=lambda i: -len(str(inputs[i])))
        for start in range(0, len(order), max_rows):
            chunk = order[start : start + max_rows]
            for indices, results in predictor.run([inputs[i] for i in chunk]):
                yield [chunk[i] for i in indices], results

    return Predictor(predictor.name, run, predictor.labels, predictor.device)


def perturbed_copies(
    task: str, table: Table | TableFile, columns: dict[str, str | None], seed: int = 0
) -> tuple[int, int]:
    """(rows evaluated, perturbed copies of them) in `table`: what a robustness run adds to each model's calls.
    On the head of a file, an estimate for the whole of it."""
    evaluation = task_named(task)
    positions = check_columns(evaluation, table, columns)
    inputs = []
    for chunk in table.chunks():
        for row in chunk.rows:
            cells = role_cells(evaluation, row, positions)
            if evaluation.evaluable(cells):
                inputs.append(evaluation.input_of(cells))
    return len(inputs), extra_rows(perturb_rows(inputs, seed))
