"""What an evaluation shows as tables: headline metrics, per class, worst rows, robustness and slices, and
all of them as plain text for the command line. Shared by the evaluation tab and the command line, so no
Gradio here; the charts are in figures.py, the downloaded files in downloads.py.

Table and chart words come from TEXT through a `say(key)` function: English by default (the command line),
the reader's language in the tab (whose TEXT includes this one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from .report_text import TEXT
from .results import EvaluationResult, ModelResult, shortened

# The headline metrics of each task, in table order (attributes of the task's metrics dataclass).
HEADLINE = {
    "classification": (
        "accuracy",
        "accuracy_ci",
        "macro_f1",
        "macro_f1_ci",
        "macro_precision",
        "macro_recall",
        "weighted_f1",
        "weighted_precision",
        "weighted_recall",
    ),
    "qa": ("exact_match", "f1"),
    "translation": ("bleu", "chrf", "ter"),
    "generation": ("perplexity", "tokens"),
    "answers": (
        "judge_score",
        "judge_score_ci",
        "unscored",
        "rouge_l",
        "rouge_l_ci",
        "exact_match",
        "chrf",
        "bleu",
        "mean_length",
    ),
}
HEADLINE["sentiment"] = HEADLINE["zero-shot"] = HEADLINE["classification"]
Say = Callable[[str], str]


# The keys of each table's columns (evaluation.col.<key> in either language); the tab shows them before a run.
SUMMARY_COLUMNS = ("model", "status", "rows", "rows_per_second", "device")  # then the metrics
SLICES_COLUMNS = ("model", "slice_column", "slice", "slice_rows")  # then the metrics
PER_CLASS_COLUMNS = ("model", "label", "precision", "recall", "f1", "support")
WORST_COLUMNS = ("model", "row", "input", "reference", "prediction", "score")
ROBUSTNESS_COLUMNS = (
    "model",
    "perturbation",
    "changed_rows",
    "fail_rate",
    "fail_rate_ci",
    "metric",
    "original",
    "perturbed",
    "drop",
    "severity",
)
BIAS_COLUMNS = (
    "model",
    "swap",
    "swapped_rows",
    "changed_rate",
    "changed_rate_ci",
    "metric",
    "original",
    "swapped",
    "drop",
    "severity",
)
BIAS_FLIPS_COLUMNS = (
    "model",
    "swap",
    "row",
    "original_input",
    "swapped_input",
    "original_prediction",
    "swapped_prediction",
)
FLIPS_COLUMNS = (
    "model",
    "perturbation",
    "row",
    "original_input",
    "perturbed_input",
    "original_prediction",
    "perturbed_prediction",
)


def english(key: str, **params: object) -> str:
    return TEXT[key][0].format(**params)


def _number(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, tuple):
        return f"[{value[0]:.4f}, {value[1]:.4f}]"
    return value


def headline(result: EvaluationResult, model: ModelResult) -> dict[str, Any]:
    """Metric name -> value of the task's headline metrics; empty when the model finished no row."""
    if model.metrics is None:
        return {}
    return {name: getattr(model.metrics, name) for name in HEADLINE[result.task]}


def summary_frame(result: EvaluationResult, say: Say = english) -> pd.DataFrame:
    """One row per model: headline metrics, speed and device, side by side."""
    rows = []
    for model in result.models:
        row = {
            say("evaluation.col.model"): model.model,
            say("evaluation.col.status"): say(f"evaluation.status.{model.status}"),
            say("evaluation.col.rows"): model.rows_done,
        }
        row.update(
            {say(f"evaluation.metric.{name}"): _number(value) for name, value in headline(result, model).items()}
        )
        row.update(
            {
                say("evaluation.col.rows_per_second"): round(model.timing.rows_per_second, 2),
                say("evaluation.col.mean_batch_ms"): round(model.timing.mean_batch_seconds * 1000, 1),
                say("evaluation.col.p95_batch_ms"): round(model.timing.p95_batch_seconds * 1000, 1),
                say("evaluation.col.device"): model.timing.device,
            }
        )
        if model.unknown_labels:
            row[say("evaluation.col.unknown_labels")] = ", ".join(
                f"{label} ({count})" for label, count in sorted(model.unknown_labels.items())
            )
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_frame(result: EvaluationResult, say: Say = english) -> pd.DataFrame:
    """Precision, recall, F1 and support of every class, for every classification model."""
    rows = [
        (model.model, c.label, round(c.precision, 4), round(c.recall, 4), round(c.f1, 4), c.support)
        for model in result.models
        if hasattr(model.metrics, "per_class")
        for c in model.metrics.per_class
    ]
    return pd.DataFrame(rows, columns=[say(f"evaluation.col.{key}") for key in PER_CLASS_COLUMNS])


def worst_rows_frame(result: EvaluationResult, say: Say = english) -> pd.DataFrame:
    """Each model's worst rows: misclassified with the most confidence, lowest F1 or chrF, highest perplexity."""
    rows = [
        (model.model, row.row + 1, row.input, row.reference, row.prediction, row.score)
        for model in result.models
        for row in model.worst
    ]
    return pd.DataFrame(rows, columns=[say(f"evaluation.col.{key}") for key in WORST_COLUMNS])


# --- beyond accuracy: robustness to perturbations, metrics per slice ------------------------------


def _metric_name(name: str, say: Say) -> str:
    return say(f"evaluation.metric.{name}")


def robustness_frame(result: EvaluationResult, say: Say = english, kind: str = "robustness") -> pd.DataFrame:
    """Per model and perturbation (kind "robustness") or swap of identity terms ("bias"): rows it changed, the
    share whose prediction changed, the headline metric before and after, and the severity."""
    rows = []
    for model in result.models:
        for item in getattr(model, kind):
            headline_change = item.metrics[0] if item.metrics else None
            rows.append(
                (
                    model.model,
                    say(f"evaluation.perturbation.{item.perturbation}"),
                    item.rows,
                    _number(item.fail_rate),
                    _number(item.fail_rate_ci),
                    _metric_name(headline_change.name, say) if headline_change else "",
                    *(
                        (
                            _number(headline_change.original),
                            _number(headline_change.perturbed),
                            _number(headline_change.drop),
                        )
                        if headline_change
                        else (None, None, None)
                    ),
                    say(f"evaluation.severity.{item.severity or 'not_applicable'}"),
                )
            )
    columns = ROBUSTNESS_COLUMNS if kind == "robustness" else BIAS_COLUMNS
    return pd.DataFrame(rows, columns=[say(f"evaluation.col.{key}") for key in columns])


def robustness_summary(result: EvaluationResult, say: Callable[..., str] = english) -> list[str]:
    """One sentence per model that had a robustness run: the perturbations with a major fail rate, or none."""
    from .robustness import MAJOR

    lines = []
    for model in result.models:
        if not model.robustness:
            continue
        major = [item for item in model.robustness if item.severity == "major"]
        lines.append(
            say(
                "evaluation.robustness_major",
                model=model.model,
                perturbations=", ".join(
                    f"{say(f'evaluation.perturbation.{item.perturbation}')} ({item.fail_rate:.0%})" for item in major
                ),
            )
            if major
            else say("evaluation.robustness_fine", model=model.model, share=MAJOR)
        )
    return lines


def flips_frame(result: EvaluationResult, say: Say = english, kind: str = "robustness") -> pd.DataFrame:
    """A few rows whose prediction a perturbation (or a swap, kind "bias") changed, before and after side by side."""
    rows = [
        (
            model.model,
            say(f"evaluation.perturbation.{item.perturbation}"),
            flip.row + 1,
            shortened(flip.original_input),
            shortened(flip.perturbed_input),
            flip.original_prediction,
            flip.perturbed_prediction,
        )
        for model in result.models
        for item in getattr(model, kind)
        for flip in item.flips
    ]
    columns = FLIPS_COLUMNS if kind == "robustness" else BIAS_FLIPS_COLUMNS
    return pd.DataFrame(rows, columns=[say(f"evaluation.col.{key}") for key in columns])


def slices_frame(result: EvaluationResult, say: Say = english) -> pd.DataFrame:
    """Per model and slice: rows, the task's metrics with intervals, their gap to the whole file, and the
    share of confident mistakes."""
    rows = []
    for model in result.models:
        for item in model.slices:
            row = {
                say("evaluation.col.model"): model.model,
                say("evaluation.col.slice_column"): _slice_column(item.column, say),
                say("evaluation.col.slice"): _slice_value(item.column, item.value, say),
                say("evaluation.col.slice_rows"): item.rows,
            }
            for name, value in item.metrics.items():
                metric = _metric_name(name, say)
                row[metric] = _number(value)
                if name in item.intervals:
                    row[say("evaluation.ci", metric=metric)] = _number(item.intervals[name])
                row[say("evaluation.gap", metric=metric)] = _number(item.gaps[name])
            if item.confident_wrong is not None:
                row[say("evaluation.col.confident_wrong")] = _number(item.confident_wrong)
            rows.append(row)
    return pd.DataFrame(rows)


def _slice_column(column: str, say: Say) -> str:
    from .slices import PROPOSED

    return say(f"evaluation.slice.{column}") if column in PROPOSED else column


def _slice_value(column: str, value: str, say: Say) -> str:
    key = f"evaluation.slice.value.{value}"
    return say(key) if column in ("digits", "script") and key in TEXT else value


def text_tables(result: EvaluationResult) -> str:
    """The tables as plain text, for the command line."""
    parts = [summary_frame(result).to_string(index=False)]
    for frame in (
        per_class_frame(result),
        worst_rows_frame(result),
        robustness_frame(result),
        flips_frame(result),
        robustness_frame(result, kind="bias"),
        flips_frame(result, kind="bias"),
        slices_frame(result),
    ):
        if not frame.empty:
            parts.append(frame.to_string(index=False, na_rep=""))
    parts += robustness_summary(result)
    return "\n\n".join(parts)
