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

from .results import EvaluationResult, ModelResult, shortened

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
    "evaluation.metric.judge_score": ("Judge score (1-10)", "评审分数（1-10）"),
    "evaluation.metric.judge_score_ci": ("Judge score 95% CI", "评审分数 95% 置信区间"),
    "evaluation.metric.unscored": ("Unscored", "未能评分"),
    "evaluation.metric.rouge_l": ("ROUGE-L", "ROUGE-L 分数"),
    "evaluation.metric.rouge_l_ci": ("ROUGE-L 95% CI", "ROUGE-L 95% 置信区间"),
    "evaluation.metric.exact_match_ci": ("Exact match 95% CI", "完全匹配率 95% 置信区间"),
    "evaluation.metric.mean_length": ("Mean length (characters)", "平均长度（字符）"),
    "evaluation.metric.tokens": ("Tokens", "词元数"),
    "evaluation.status.complete": ("complete", "已完成"),
    "evaluation.status.running": ("running", "运行中"),
    "evaluation.status.cancelled": ("cancelled", "已取消"),
    "evaluation.status.failed": ("failed", "失败"),
    "evaluation.status.not_run": ("not run", "未运行"),
    "evaluation.confusion_title": ("Confusion matrix: {model}", "混淆矩阵：{model}"),
    "evaluation.confusion_true": ("Reference", "参考标签"),
    "evaluation.confusion_predicted": ("Predicted", "预测标签"),
    "evaluation.col.perturbation": ("Perturbation", "扰动"),
    "evaluation.col.changed_rows": ("Rows perturbed", "被扰动的行数"),
    "evaluation.col.fail_rate": ("Fail rate", "失败率"),
    "evaluation.col.fail_rate_ci": ("Fail rate 95% CI", "失败率 95% 置信区间"),
    "evaluation.col.metric": ("Metric", "指标"),
    "evaluation.col.original": ("Original", "原始"),
    "evaluation.col.perturbed": ("Perturbed", "扰动后"),
    "evaluation.col.drop": ("Drop", "下降"),
    "evaluation.col.severity": ("Severity", "严重程度"),
    "evaluation.col.original_input": ("Original input", "原始输入"),
    "evaluation.col.perturbed_input": ("Perturbed input", "扰动后的输入"),
    "evaluation.col.original_prediction": ("Prediction", "原始预测"),
    "evaluation.col.perturbed_prediction": ("Prediction after perturbation", "扰动后的预测"),
    "evaluation.col.slice_column": ("Slice column", "切片列"),
    "evaluation.col.slice": ("Slice", "切片"),
    "evaluation.col.slice_rows": ("Rows", "行数"),
    "evaluation.col.confident_wrong": ("Confident mistakes (score > 0.9)", "高置信度错误（分数 > 0.9）"),
    "evaluation.ci": ("{metric} 95% CI", "{metric} 95% 置信区间"),
    "evaluation.gap": ("{metric} gap to whole file", "{metric}与整个文件之差"),
    "evaluation.severity.major": ("major", "严重"),
    "evaluation.severity.medium": ("medium", "中等"),
    "evaluation.severity.minor": ("minor", "轻微"),
    "evaluation.severity.not_applicable": ("not applicable: no row changed", "不适用：没有行被改变"),
    "evaluation.perturbation.upper_case": ("UPPER CASE", "全部大写"),
    "evaluation.perturbation.lower_case": ("lower case", "全部小写"),
    "evaluation.perturbation.title_case": ("Title Case", "单词首字母大写"),
    "evaluation.perturbation.typos": (
        "Typos (5% of letters: neighbouring keys, swaps)",
        "拼写错误（5% 的字母：相邻键或交换）",
    ),
    "evaluation.perturbation.strip_punctuation": ("Punctuation removed", "删除标点"),
    "evaluation.perturbation.add_punctuation": ("Punctuation added", "添加标点"),
    "evaluation.perturbation.extra_whitespace": ("Extra whitespace", "多余空格"),
    "evaluation.perturbation.punctuation_width": ("Full-/half-width punctuation swapped", "全角/半角标点互换"),
    "evaluation.perturbation.simplified_traditional": ("Simplified ↔ Traditional Chinese", "简体 ↔ 繁体中文"),
    "evaluation.slice.length": ("Text length (characters)", "文本长度（字符数）"),
    "evaluation.slice.digits": ("Digits", "数字"),
    "evaluation.slice.script": ("Writing system", "书写系统"),
    "evaluation.slice.value.digits": ("with digits", "含数字"),
    "evaluation.slice.value.no_digits": ("without digits", "不含数字"),
    "evaluation.slice.value.latin": ("Latin", "拉丁字母"),
    "evaluation.slice.value.cjk": ("CJK", "中日韩文字"),
    "evaluation.slice.value.mixed": ("Latin and CJK", "拉丁字母与中日韩文字混合"),
    "evaluation.slice.value.other": ("other letters", "其他文字"),
    "evaluation.slice.value.none": ("no letters", "无字母"),
    "evaluation.robustness_major": (
        "{model} is not robust to: {perturbations} (share of predictions changed).",
        "{model} 对以下扰动不稳健：{perturbations}（预测改变的比例）。",
    ),
    "evaluation.robustness_fine": (
        "{model}: no perturbation changed {share:.0%} or more of its predictions.",
        "{model}：没有任何扰动使 {share:.0%} 或更多的预测发生改变。",
    ),
    "evaluation.fail_rate_title": ("Predictions changed by each perturbation", "各扰动使预测改变的比例"),
    "evaluation.fail_rate_axis": (
        "Fail rate: % of perturbed rows whose prediction changed (95% CI)",
        "失败率：被扰动的行中预测改变的百分比（95% 置信区间）",
    ),
}
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


def robustness_frame(result: EvaluationResult, say: Say = english) -> pd.DataFrame:
    """Per model and perturbation: rows it changed, the share whose prediction changed, the headline metric
    before and after, and the severity."""
    rows = []
    for model in result.models:
        for item in model.robustness:
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
    return pd.DataFrame(rows, columns=[say(f"evaluation.col.{key}") for key in ROBUSTNESS_COLUMNS])


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


def flips_frame(result: EvaluationResult, say: Say = english) -> pd.DataFrame:
    """A few rows whose prediction a perturbation changed, before and after side by side."""
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
        for item in model.robustness
        for flip in item.flips
    ]
    return pd.DataFrame(rows, columns=[say(f"evaluation.col.{key}") for key in FLIPS_COLUMNS])


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
        slices_frame(result),
    ):
        if not frame.empty:
            parts.append(frame.to_string(index=False, na_rep=""))
    parts += robustness_summary(result)
    return "\n\n".join(parts)
