"""What every evaluation task says about itself: which cells a row needs, what the model reads and what it is
compared with, which Model operation predicts, and how a prediction is tallied (recipes.py, answers.py)."""

from __future__ import annotations

from typing import Any

from ..models import Model
from ..registry import KIND_OF_TASK, ModelEntry
from .columns import ROLES
from .results import Predictor
from .robustness import TASK_METRICS
from .tallies import Tally


class TaskEvaluation:
    """The parts of an evaluation that differ by task; the base class reads single-text rows."""

    name = ""
    registry_task = ""  # where its models are listed in models.yaml
    score_name = ""  # what the per-row score is
    note_name = ""  # a per-row note beside the score in predictions.csv ("" for none)
    optional_roles: tuple[str, ...] = ()  # roles whose cell may be empty
    optional_columns: tuple[str, ...] = ()  # roles a file may have no column for
    reads_labels_first = False  # whether its models need every label of the file before the first row
    window_rows = 8192  # rows sorted and batched together; bench/run.py measures the padding per window size

    def slice_metrics(self, columns: dict[str, str | None]) -> tuple[str, ...]:
        """The metrics a slice of the rows is scored with (fields of the task's metrics), headline first."""
        return TASK_METRICS.get(self.name, ())

    def configured(self, options: Any) -> TaskEvaluation:
        """The task for one run with that run's options; tasks without options are the same for every run."""
        return self

    def options_state(self) -> dict | None:
        """The run's options as its saved state records them: a run continues only with the same ones."""
        return None

    def cache_counts(self) -> dict[str, int] | None:
        """What the run took from the response cache and what it computed; None for tasks without one."""
        return None

    def decisive_options(self) -> dict | None:
        """The options that decide the predictions themselves, which name a run's results (results.run_id_of)."""
        return None

    def judging(self, models: list[str], registry: Any) -> Any:
        """What runs over a window once every model has answered it (the answers task's judge); None: nothing."""
        return None

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

    @property
    def kind(self) -> str:
        """What its models are loaded as."""
        return KIND_OF_TASK[self.registry_task]

    def predictor(self, model: Model, entry: ModelEntry, file_labels: list[str], budget: int | None) -> Predictor:
        """The model as the run loop calls it: a list of inputs in, (input indices, results) batches out."""
        raise NotImplementedError

    def prediction_of(self, result: Any) -> tuple[str, float | None]:
        """The prediction cell and the per-row score of one model result."""
        raise NotImplementedError

    def note_of(self, result: Any) -> str:
        """The note predictions.csv keeps beside a result's score (note_name)."""
        return ""

    def tally(self, predictor: Predictor) -> Tally:
        raise NotImplementedError
