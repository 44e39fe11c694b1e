"""What an evaluation shows and hands out: metric tables, worst rows, the confusion matrix, and the
predictions CSV and metrics JSON. Shared by the evaluation tab and the command line, so no Gradio here.

Table headers come from TEXT through a `say(key)` function: English by default (the command line),
the reader's language in the tab (whose TEXT includes this one).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ..plotting import font_families
from .runner import EvaluationResult, ModelResult
from .store import RunFolder

TEXT = {
    "evaluation.col.model": ("Model", "模型"),
    "evaluation.col.status": ("Status", "状态"),
    "evaluation.col.rows": ("Rows done", "已完成行数"),
    "evaluation.col.rows_per_second": ("Rows/s", "行/秒"),
    "evaluation.col.mean_batch_ms": ("Mean batch latency (ms)", "批次平均延迟（毫秒）"),
    "evaluation.col.p95_batch_ms": ("p95 batch latency (ms)", "批次 p95 延迟（毫秒）"),
    "evaluation.col.device": ("Device", "设备"),
    "evaluation.col.label": ("Label", "标签"),
    "evaluation.col.precision": ("Precision", "精确率"),
    "evaluation.col.recall": ("Recall", "召回率"),
    "evaluation.col.f1": ("F1", "F1 值"),
    "evaluation.col.support": ("Support", "样本数"),
    "evaluation.col.row": ("Row", "行号"),
    "evaluation.col.input": ("Input", "输入"),
    "evaluation.col.reference": ("Reference", "参考答案"),
    "evaluation.col.prediction": ("Prediction", "预测"),
    "evaluation.col.score": ("Score", "分数"),
    "evaluation.col.unknown_labels": ("Labels the model does not know (rows)", "模型不认识的标签（行数）"),
    "evaluation.metric.accuracy": ("Accuracy", "准确率"),
    "evaluation.metric.accuracy_ci": ("Accuracy 95% CI", "准确率 95% 置信区间"),
    "evaluation.metric.macro_f1": ("Macro F1", "宏平均 F1"),
    "evaluation.metric.macro_f1_ci": ("Macro F1 95% CI", "宏平均 F1 95% 置信区间"),
    "evaluation.metric.macro_precision": ("Macro precision", "宏平均精确率"),
    "evaluation.metric.macro_recall": ("Macro recall", "宏平均召回率"),
    "evaluation.metric.weighted_f1": ("Weighted F1", "加权 F1"),
    "evaluation.metric.weighted_precision": ("Weighted precision", "加权精确率"),
    "evaluation.metric.weighted_recall": ("Weighted recall", "加权召回率"),
    "evaluation.metric.exact_match": ("Exact match", "完全匹配率"),
    "evaluation.metric.f1": ("F1 (SQuAD)", "F1 值（SQuAD）"),
    "evaluation.metric.bleu": ("BLEU", "BLEU 分数"),
    "evaluation.metric.chrf": ("chrF", "chrF 分数"),
    "evaluation.metric.ter": ("TER", "TER 翻译错误率"),
    "evaluation.metric.perplexity": ("Perplexity", "困惑度"),
    "evaluation.metric.tokens": ("Tokens", "词元数"),
    "evaluation.status.complete": ("complete", "已完成"),
    "evaluation.status.running": ("running", "运行中"),
    "evaluation.status.cancelled": ("cancelled", "已取消"),
    "evaluation.status.failed": ("failed", "失败"),
    "evaluation.status.not_run": ("not run", "未运行"),
    "evaluation.confusion_title": ("Confusion matrix: {model}", "混淆矩阵：{model}"),
    "evaluation.confusion_true": ("Reference", "参考标签"),
    "evaluation.confusion_predicted": ("Predicted", "预测标签"),
}
# The headline metrics of each task, in table order (attributes of the task's metrics dataclass).
HEADLINE = {
    "classification": ("accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "macro_precision", "macro_recall",
                       "weighted_f1", "weighted_precision", "weighted_recall"),
    "qa": ("exact_match", "f1"),
    "translation": ("bleu", "chrf", "ter"),
    "generation": ("perplexity", "tokens"),
}
HEADLINE["sentiment"] = HEADLINE["zero-shot"] = HEADLINE["classification"]
Say = Callable[[str], str]


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
        row = {say("evaluation.col.model"): model.model,
               say("evaluation.col.status"): say(f"evaluation.status.{model.status}"),
               say("evaluation.col.rows"): model.rows_done}
        row.update({say(f"evaluation.metric.{name}"): _number(value)
                    for name, value in headline(result, model).items()})
        row.update({say("evaluation.col.rows_per_second"): round(model.timing.rows_per_second, 2),
                    say("evaluation.col.mean_batch_ms"): round(model.timing.mean_batch_seconds * 1000, 1),
                    say("evaluation.col.p95_batch_ms"): round(model.timing.p95_batch_seconds * 1000, 1),
                    say("evaluation.col.device"): model.timing.device})
        if model.unknown_labels:
            row[say("evaluation.col.unknown_labels")] = ", ".join(
                f"{label} ({count})" for label, count in sorted(model.unknown_labels.items()))
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_frame(result: EvaluationResult, say: Say = english) -> pd.DataFrame:
    """Precision, recall, F1 and support of every class, for every classification model."""
    keys = ("model", "label", "precision", "recall", "f1", "support")
    rows = [(model.model, c.label, round(c.precision, 4), round(c.recall, 4), round(c.f1, 4), c.support)
            for model in result.models if hasattr(model.metrics, "per_class") for c in model.metrics.per_class]
    return pd.DataFrame(rows, columns=[say(f"evaluation.col.{key}") for key in keys])


def worst_rows_frame(result: EvaluationResult, say: Say = english) -> pd.DataFrame:
    """Each model's worst rows: misclassified with the most confidence, lowest F1 or chrF, highest perplexity."""
    keys = ("model", "row", "input", "reference", "prediction", "score")
    rows = [(model.model, row.row + 1, row.input, row.reference, row.prediction, row.score)
            for model in result.models for row in model.worst]
    return pd.DataFrame(rows, columns=[say(f"evaluation.col.{key}") for key in keys])


def confusion_figure(result: EvaluationResult, say: Callable[..., str] = english):
    """A confusion-matrix heat map per classification model, side by side; None for other tasks."""
    models = [model for model in result.models if hasattr(model.metrics, "confusion")]
    if not models:
        return None
    import matplotlib
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(len(model.metrics.labels) for model in models)
    side = min(4 + 0.5 * size, 12)
    with matplotlib.rc_context({"font.family": list(font_families())}):  # Chinese titles and labels too
        figure = Figure(figsize=(side * len(models), side), layout="constrained")
        for axes, model in zip(figure.subplots(1, len(models), squeeze=False)[0], models):
            display = ConfusionMatrixDisplay(pd.DataFrame(model.metrics.confusion).to_numpy(),
                                             display_labels=model.metrics.labels)
            display.plot(ax=axes, colorbar=False, xticks_rotation=45, cmap="Blues")
            axes.set_title(say("evaluation.confusion_title", model=model.model))
            axes.set_xlabel(say("evaluation.confusion_predicted"))
            axes.set_ylabel(say("evaluation.confusion_true"))
    return figure


# --- downloads ---------------------------------------------------------------------------------

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
        "models": [_model_dict(model) for model in result.models],
    }


def _model_dict(model: ModelResult) -> dict[str, Any]:
    return {
        "model": model.model,
        "status": model.status,
        "error": model.error,
        "rows_done": model.rows_done,
        "rows_not_finished": model.rows_not_finished,
        "metrics": dataclasses.asdict(model.metrics) if model.metrics is not None else None,
        "timing": dataclasses.asdict(model.timing),
        "unknown_labels": model.unknown_labels,
    }


def write_downloads(result: EvaluationResult) -> tuple[Path, Path]:
    """metrics.json beside the predictions.csv the run has written; both paths."""
    metrics = RunFolder(result.folder).metrics
    metrics.write_text(json.dumps(metrics_dict(result), ensure_ascii=False, indent=2), encoding="utf-8")
    return result.predictions_path, metrics


def text_tables(result: EvaluationResult) -> str:
    """The tables as plain text, for the command line."""
    parts = [summary_frame(result).to_string(index=False)]
    for frame in (per_class_frame(result), worst_rows_frame(result)):
        if not frame.empty:
            parts.append(frame.to_string(index=False))
    return "\n\n".join(parts)
