"""Compare tab: one input through 2–4 models, answers side by side with each model's speed and where it ran."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import gradio as gr
import pandas as pd

from ..errors import InputError
from ..inputs import clean_text
from ..models import Model
from ..registry import Registry
from ..tasks.chat import reply_tokens
from ..tasks.classification import Classification, classify, is_nli, parse_labels, zero_shot
from ..tasks.compare import ModelProgress, one_by_one, side_by_side
from ..tasks.generation import GenerationSettings, stream
from ..tasks.sentiment import analyse_lines
from ..tasks.translation import translate
from .common import ResultTable, bind, error_message, load_picked, result_table, runs_on, say, user_errors
from .generation_tab import GENERATION_CONCURRENCY
from .i18n import t

TEXT = {
    "compare.tab": ("Compare", "模型对比"),
    "compare.task": ("Task", "任务"),
    "compare.input": ("Prompt or text", "提示词或文本"),
    "compare.input_hint": ("Enter compares · Shift+Enter starts a new line", "回车开始对比 · Shift+回车换行"),
    "compare.model_info": ("Leave empty to compare fewer models.", "留空即可少比较几个模型。"),
    "compare.labels": ("Labels for zero-shot models, separated by commas", "零样本模型的标签，用逗号分隔"),
    "compare.button": ("Compare", "对比"),
    "compare.figures": ("Speed and where each model ran", "各模型的速度与运行位置"),
    "compare.col_model": ("Model", "模型"),
    "compare.col_runs_on": ("Runs on", "运行位置"),
    "compare.col_first": ("First token (s)", "首个词元（秒）"),
    "compare.col_seconds": ("Total (s)", "总耗时（秒）"),
    "compare.col_tokens": ("Tokens", "词元数"),
    "compare.col_speed": ("Tokens/s (end to end)", "词元/秒（端到端）"),
    "compare.task_generation": ("Text generation / chat", "文本生成 / 对话"),
    "compare.task_translation": ("Translation", "翻译"),
    "compare.task_classification": ("Classification", "文本分类"),
    "compare.task_sentiment": ("Sentiment", "情感分析"),
}
ERRORS_ZH = {
    "compare_two": "请至少选择两个模型进行对比。",
}
SLOTS = 4
COMPARED_TASKS = ("generation", "translation", "classification", "sentiment")
HEADERS = (
    "compare.col_model",
    "compare.col_runs_on",
    "compare.col_first",
    "compare.col_seconds",
    "compare.col_tokens",
    "compare.col_speed",
)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def figures(progress: ModelProgress) -> list:
    """First token, total seconds, tokens and tokens/s of one answer, rounded for reading."""
    return [
        _rounded(progress.first_token_s, 3),
        _rounded(progress.seconds, 3),
        progress.tokens,
        _rounded(progress.tokens_per_second, 1),
    ]


def shown_text(progress: ModelProgress, request: gr.Request | None) -> str:
    """An answer, or why that model could not give one."""
    return f"⚠ {error_message(progress.error, request)}" if progress.error is not None else progress.text


def _scores(result: Classification) -> str:
    return "\n".join(f"{score.label}: {score.score:.3f}" for score in result.scores)


def _one_shot(task: str, loaded: Model, text: str, labels: str) -> Callable[[], str]:
    """The task's own function for one model, as a call that returns the text to show."""
    if task == "translation":
        return lambda: translate(loaded, [text])[0]
    if task == "sentiment":
        return lambda: "\n".join(f"{row.label} ({row.score:.3f}) · {row.text}" for row in analyse_lines(loaded, text))
    if is_nli(loaded):
        return lambda: _scores(zero_shot(loaded, [text], parse_labels(labels, False))[0])
    return lambda: _scores(classify(loaded, [text])[0])


def run_all(
    task: str, models: list[Model], text: str, labels: str, settings: GenerationSettings
) -> Iterator[list[ModelProgress]]:
    """Generation streams side by side; the other tasks run model after model with their task functions."""
    if task == "generation":
        return side_by_side(
            [lambda loaded=loaded: stream(loaded, text, settings) for loaded in models],
            [lambda reply, loaded=loaded: reply_tokens(loaded, reply) for loaded in models],
        )
    counters = [
        (lambda reply, loaded=loaded: reply_tokens(loaded, reply)) if task == "translation" else None
        for loaded in models
    ]
    return one_by_one([_one_shot(task, loaded, text, labels) for loaded in models], counters)


@user_errors
def run_compare(
    registry: Registry,
    task: str,
    text: str,
    model_1: str | None,
    model_2: str | None,
    model_3: str | None,
    model_4: str | None,
    labels: str,
    max_new_tokens: float,
    temperature: float,
    request: gr.Request,
) -> Iterator[list]:
    """Load the picked models, then stream every answer into its column and the figures into the table."""
    if task not in COMPARED_TASKS:
        raise InputError(
            "unknown_task", "Unknown task '{task}'. Choose one of: {tasks}.", task=task, tasks=", ".join(COMPARED_TASKS)
        )
    text = clean_text(text)
    settings = GenerationSettings(max_new_tokens=int(max_new_tokens), temperature=temperature).checked()
    picked = [choice for choice in (model_1, model_2, model_3, model_4) if (choice or "").strip()]
    if len(picked) < 2:
        raise InputError("compare_two", "Pick at least two models to compare.")
    models = [load_picked(registry, task, choice, request=request) for choice in picked]
    places = [runs_on(loaded, request) for loaded in models]
    headers = [say(key, request) for key in HEADERS]
    for progress in run_all(task, models, text, labels, settings):
        answers = [shown_text(item, request) for item in progress] + [""] * (SLOTS - len(progress))
        rows = [[choice, place, *figures(item)] for choice, place, item in zip(picked, places, progress)]
        yield [*answers, pd.DataFrame(rows, columns=headers)]


def models_for(registry: Registry, task: str) -> list[dict]:
    """The pickers of a task: its first two models picked, the other slots empty."""
    choices = registry.choices(task) if task in COMPARED_TASKS else []
    return [
        gr.update(choices=choices, value=choices[slot] if slot < min(2, len(choices)) else None)
        for slot in range(SLOTS)
    ]


def build(registry: Registry) -> list[ResultTable]:
    with gr.Tab(t("compare.tab"), id="compare", elem_id="tab-compare"):
        with gr.Row():
            task = gr.Radio(
                [(t(f"compare.task_{name}"), name) for name in COMPARED_TASKS],
                value="generation",
                label=t("compare.task"),
            )
        text = gr.Textbox(  # one line that grows: Enter compares, Shift+Enter breaks the line
            label=t("compare.input"),
            placeholder=t("compare.input_hint"),
            lines=1,
            max_lines=12,
            elem_id="compare-input",
        )
        choices = registry.choices("generation")
        with gr.Row():
            pickers = [
                gr.Dropdown(
                    choices=choices,
                    value=choices[slot] if slot < min(2, len(choices)) else None,
                    label=f"#{slot + 1}",
                    info=t("compare.model_info") if slot >= 2 else None,
                    allow_custom_value=registry.settings.allow_custom_models,
                )
                for slot in range(SLOTS)
            ]
        with gr.Row():
            labels = gr.Textbox(label=t("compare.labels"), value="technology, sports, politics, food")
            max_new_tokens = gr.Slider(1, 1024, value=128, step=1, label=t("generation.max_new_tokens"))
            temperature = gr.Slider(0, 2, value=0.7, step=0.05, label=t("generation.temperature"))
        with gr.Row():
            button = gr.Button(t("compare.button"), variant="primary")
            stop = gr.Button(t("common.stop"), variant="stop")
        with gr.Row(equal_height=True):
            answers = [gr.Textbox(label=f"#{slot + 1}", lines=10, buttons=["copy"]) for slot in range(SLOTS)]
        table = result_table("compare.figures", HEADERS, wrap=True)
    task.change(bind(models_for, registry), task, pickers, api_visibility="private", queue=False)
    events = [
        trigger(
            bind(run_compare, registry),
            [task, text, *pickers, labels, max_new_tokens, temperature],
            [*answers, table.component],
            concurrency_limit=GENERATION_CONCURRENCY,
            concurrency_id="generation",
            **visibility,
        )
        for trigger, visibility in (
            (button.click, {"api_name": "compare"}),
            (text.submit, {"api_visibility": "private"}),
        )
    ]
    stop.click(None, cancels=events, api_visibility="private")
    return [table]
