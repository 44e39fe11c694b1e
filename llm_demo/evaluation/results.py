"""What an evaluation hands back: per model its status, metrics, timing and worst rows, and for the run its
table, columns and folder. Plain data, read by the tab, the command line and the reports."""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..models.types import Batches
from .reading import Table, TableFile
from .robustness import RobustnessResult
from .slices import SliceResult
from .store import RunFolder

DONE, SKIPPED, NOT_FINISHED = "done", "skipped", "not_finished"  # the status of a row, per model
ROW_FAILED = "failed"  # a row a model server could not answer, even after retries
COMPLETE, RUNNING, CANCELLED, FAILED, NOT_RUN = "complete", "running", "cancelled", "failed", "not_run"


@dataclass
class Predictor:
    """A model as the run loop sees it: `run` maps a list of inputs to (input indices, results) batches."""

    name: str
    run: Callable[[list[Any]], Batches]
    labels: list[str] | None = None  # class names in id order, so "0", "1"... in a file match them
    device: str = "cpu"


@dataclass
class RunProgress:
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


INPUT_CHARS = 200  # of each input kept for the worst-rows and flipped-rows tables


def shortened(text: str) -> str:
    """A cell as the tables show it: whole, or its first INPUT_CHARS characters."""
    return text if len(text) <= INPUT_CHARS else text[: INPUT_CHARS - 1] + "…"


@dataclass
class Timing:
    device: str
    seconds: float  # model time, tokenizing included, in this process (a continued run: since it continued)
    rows_per_second: float
    mean_batch_seconds: float
    p95_batch_seconds: float
    batches: int

    @classmethod
    def measured(cls, device: str, seconds: float, rows: int, batch_seconds: Sequence[float]) -> Timing:
        latencies = list(batch_seconds) or [0.0]
        return cls(
            device,
            seconds,
            rows / seconds if seconds > 0 else 0.0,
            statistics.fmean(latencies),
            float(np.percentile(latencies, 95)),
            len(batch_seconds),
        )


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
    bias: list[RobustnessResult] = field(default_factory=list)  # per family of swapped identity terms (swaps.py)


@dataclass
class EvaluationResult:
    task: str
    table: Table | TableFile  # name, columns, rows and blank lines of the file; its rows are not kept
    columns: dict[str, str | None]
    models: list[ModelResult]
    rows_skipped: int  # rows with an empty required cell, left out for every model
    folder: Path  # holds predictions.csv, metrics.json and state.json
    judging: Any = None  # judging.JudgingResult of an answers run with a judge
    run_id: str = ""  # the same for every run of the same file, columns, models and options (reviews are kept by it)
    cache: dict[str, int] | None = None  # what the response cache reused and what was computed anew

    @property
    def finished(self) -> bool:
        return all(model.status == COMPLETE and not model.rows_failed for model in self.models)

    @property
    def predictions_path(self) -> Path:
        return RunFolder(self.folder).predictions


RUN_KEYS = ("file", "task", "columns", "models", "decisive")  # of a run's identity: what decides its predictions


def run_id_of(identity: dict[str, Any]) -> str:
    """A short id that names the run's results wherever and however often it runs (window and batch sizes
    change the speed, not the results)."""
    decisive = json.dumps({key: identity.get(key) for key in RUN_KEYS}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(decisive.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class GenerationMetrics:
    perplexity: float
    tokens: int
