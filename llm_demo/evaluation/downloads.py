"""The files an evaluation hands out: metrics.json, written beside the predictions.csv the run has written."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from .answers_report import answers_dict
from .results import EvaluationResult, ModelResult
from .robustness import RobustnessResult
from .slices import SliceResult
from .store import RunFolder, write_file
from .swaps import PREFIX as SWAP_PREFIX


def metrics_dict(result: EvaluationResult) -> dict[str, Any]:
    """Everything measured, JSON-ready: per model its metrics, speed, unknown labels and row counts
    (which rows were done, skipped or not finished is in predictions.csv)."""
    return {
        "task": result.task,
        "file": result.table.source_name,
        "rows": result.table.rows,
        "blank_lines_skipped": result.table.blank_lines_skipped,
        "rows_skipped": result.rows_skipped,
        "columns": result.columns,
        "finished": result.finished,
        "models": [_model_dict(model, result.task) for model in result.models],
        **(answers_dict(result) if result.task == "answers" else {}),
    }


def _model_dict(model: ModelResult, task: str) -> dict[str, Any]:
    metrics = dataclasses.asdict(model.metrics) if model.metrics is not None else None
    return {
        "model": model.model,
        "status": model.status,
        "error": model.error,
        "rows_done": model.rows_done,
        "rows_not_finished": model.rows_not_finished,
        "rows_failed": model.rows_failed,  # by a model server, even after retries (counted as not finished)
        "metrics": metrics,
        **({"answers": metrics} if task == "answers" else {}),
        "timing": dataclasses.asdict(model.timing),
        "unknown_labels": model.unknown_labels,
        "robustness": [robustness_dict(item) for item in model.robustness],
        "slices": [slice_dict(item) for item in model.slices],
        "bias": [bias_dict(item) for item in model.bias],
    }


def robustness_dict(item: RobustnessResult) -> dict[str, Any]:
    """One perturbation as metrics.json has it: the headline metric flat, every metric and the flips below
    (their rows 1-based, as data rows are counted everywhere in the file)."""
    return {
        "perturbation": item.perturbation,
        "rows": item.rows,
        "fail_rate": item.fail_rate,
        "fail_rate_ci": item.fail_rate_ci,
        "metric": item.metric,
        "metric_drop": item.metric_drop,
        "severity": item.severity,
        "metric_name": item.metrics[0].name if item.metrics else None,
        "metrics": [{**dataclasses.asdict(change), "drop": change.drop} for change in item.metrics],
        "flips": [{**dataclasses.asdict(flip), "row": flip.row + 1} for flip in item.flips],
    }


def bias_dict(item: RobustnessResult) -> dict[str, Any]:
    """One family of swapped identity terms: how often the prediction changed, and the headline metric on the
    rows as written and swapped (their rows 1-based, as everywhere in the file)."""
    return {
        "swap": item.perturbation.removeprefix(SWAP_PREFIX),
        "rows": item.rows,
        "changed_rate": item.fail_rate,
        "changed_rate_ci": item.fail_rate_ci,
        "metric_name": item.metrics[0].name if item.metrics else None,
        "metric": item.metrics[0].original if item.metrics else None,
        "metric_swapped": item.metric,
        "metric_drop": item.metric_drop,
        "changed": [{**dataclasses.asdict(flip), "row": flip.row + 1} for flip in item.flips],
    }


def slice_dict(item: SliceResult) -> dict[str, Any]:
    """One slice as metrics.json has it: the task's metrics under their usual names, `_ci` and `_gap` beside."""
    entry: dict[str, Any] = {"column": item.column, "value": item.value, "rows": item.rows}
    for name, value in item.metrics.items():
        entry[name] = value
        if name in item.intervals:
            entry[f"{name}_ci"] = item.intervals[name]
        entry[f"{name}_gap"] = item.gaps[name]
    entry["confident_wrong"] = item.confident_wrong
    return entry


def write_downloads(result: EvaluationResult) -> tuple[Path, Path]:
    """metrics.json beside the predictions.csv the run has written; both paths."""
    metrics = RunFolder(result.folder).metrics
    write_file(metrics, json.dumps(metrics_dict(result), ensure_ascii=False, indent=2))
    return result.predictions_path, metrics
