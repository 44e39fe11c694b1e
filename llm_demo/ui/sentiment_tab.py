"""Sentiment tab: one text or many (one per line), as a table of label and score."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..registry import Registry
from ..tasks.sentiment import analyse_lines
from .carry import Carry
from .common import (
    ResultTable,
    bind,
    examples,
    load_picked,
    model_picker,
    model_status,
    result_table,
    runs_on,
    say,
    user_errors,
)
from .i18n import t

TEXT = {
    "sentiment.tab": ("Sentiment", "情感分析"),
    "sentiment.texts": ("Text — one per line for several", "文本（多条请每行一条）"),
    "sentiment.button": ("Analyse", "分析"),
    "sentiment.result": ("Sentiment per text", "每条文本的情感"),
    "sentiment.what_if": ("What if? Edit the first line", "假如……？修改第一行"),
}
HEADERS = ("common.text", "common.label", "common.score")
EXAMPLES = [
    ["I absolutely loved this film!\nThe plot was predictable and the acting was flat.\nIt was okay, nothing special."],
    ["这家店的服务太好了，下次还来！\n快递太慢了，包装也破了。\n价格一般，质量还行。"],
    ["Das Essen war ausgezeichnet.\nLe service était très lent."],
]


@user_errors
def run_sentiment(registry: Registry, texts: str, model: str, request: gr.Request) -> tuple[pd.DataFrame, str]:
    """The sentiment of one text, or of several given one per line: the most likely label and its probability.

    Args:
        texts: one text, or several one per line: at most 1,000 lines and 20,000 characters unless set otherwise.
        model: the sentiment model; their labels differ (negative/neutral/positive, or five levels).

    Returns:
        A table of text, label and score per line, and a line naming the model and where it ran.
    """
    loaded = load_picked(registry, "sentiment", model, request=request)
    rows = analyse_lines(loaded, texts)
    headers = [say(key, request) for key in HEADERS]
    table = pd.DataFrame([(row.text, row.label, round(row.score, 4)) for row in rows], columns=headers)
    return table, runs_on(loaded, request)


def first_line(texts: str, model: str) -> list:
    """The What if? tab compares one text: the first line, with the model; its labels and multi-label stay."""
    line = next((line.strip() for line in (texts or "").splitlines() if line.strip()), "")
    return [line, line, model, gr.update(), gr.update()]


def build(registry: Registry) -> list[ResultTable | Carry]:
    with gr.Tab(t("sentiment.tab"), id="sentiment", elem_id="tab-sentiment"):
        with gr.Row():
            with gr.Column():
                texts = gr.Textbox(label=t("sentiment.texts"), lines=8)
                model = model_picker(registry, "sentiment")
                button = gr.Button(t("sentiment.button"), variant="primary")
            with gr.Column():
                table = result_table("sentiment.result", HEADERS, wrap=True)
                status = model_status()
                what_if = gr.Button(t("sentiment.what_if"), size="sm")
        examples(EXAMPLES, [texts])
    button.click(bind(run_sentiment, registry), [texts, model], [table.component, status], api_name="sentiment")
    return [table, Carry(what_if, [texts, model], "whatif_classify", first_line)]
