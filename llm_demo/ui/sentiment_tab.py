"""Sentiment tab: one text or many (one per line), as a table of label and score."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..registry import Registry
from ..tasks.sentiment import analyse_lines
from .common import bind, load_picked, model_picker, model_status, runs_on, user_errors
from .i18n import language_of, t

TEXT = {
    "sentiment.tab": ("Sentiment", "情感分析"),
    "sentiment.texts": ("Text — one per line for several", "文本（多条请每行一条）"),
    "sentiment.button": ("Analyse", "分析"),
    "sentiment.result": ("Sentiment per text", "每条文本的情感"),
}
EXAMPLES = [
    ["I absolutely loved this film!\nThe plot was predictable and the acting was flat.\nIt was okay, nothing special."],
    ["这家店的服务太好了，下次还来！\n快递太慢了，包装也破了。\n价格一般，质量还行。"],
    ["Das Essen war ausgezeichnet.\nLe service était très lent."],
]


@user_errors
def run_sentiment(registry: Registry, texts: str, model: str, request: gr.Request) -> tuple[pd.DataFrame, str]:
    from . import translations

    loaded = load_picked(registry, "sentiment", model, "sequence-classification")
    rows = analyse_lines(loaded, texts)
    language = language_of(request)
    headers = [translations().text(key, language) for key in ("common.text", "common.label", "common.score")]
    table = pd.DataFrame([(row.text, row.label, round(row.score, 4)) for row in rows], columns=headers)
    return table, runs_on(loaded, request)


def build(registry: Registry) -> None:
    with gr.Tab(t("sentiment.tab"), id="sentiment", elem_id="tab-sentiment"):
        with gr.Row():
            with gr.Column():
                texts = gr.Textbox(label=t("sentiment.texts"), lines=8)
                model = model_picker(registry, "sentiment")
                button = gr.Button(t("sentiment.button"), variant="primary")
            with gr.Column():
                table = gr.Dataframe(label=t("sentiment.result"), interactive=False, wrap=True)
                status = model_status()
        gr.Examples(EXAMPLES, inputs=[texts], label=t("common.examples"))
    button.click(bind(run_sentiment, registry), [texts, model], [table, status], api_name="sentiment")
