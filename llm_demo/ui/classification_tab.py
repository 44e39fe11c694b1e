"""Classification tab: a fine-tuned classifier's fixed labels, or zero-shot with the user's own labels."""

from __future__ import annotations

import gradio as gr

from ..inputs import clean_text
from ..registry import Registry
from ..tasks.classification import Classification, predict
from .carry import Carry
from .common import bind, examples, load_picked, model_picker, model_status, runs_on, user_errors
from .i18n import t

TEXT = {
    "classification.tab": ("Classification", "文本分类"),
    "classification.text": ("Text to classify", "要分类的文本"),
    "classification.labels": (
        "Your labels, separated by commas (zero-shot models)",
        "你的标签，用逗号分隔（零样本模型）",
    ),
    "classification.labels_info": (
        "A zero-shot model scores any labels you write; a fixed-label model uses its own.",
        "零样本模型可以为你写的任何标签打分；固定标签模型使用自己的标签。",
    ),
    "classification.multi_label": (
        "Several labels can be true at once (multi-label)",
        "多个标签可以同时成立（多标签）",
    ),
    "classification.button": ("Classify", "分类"),
    "classification.result": ("Scores", "得分"),
}
EXAMPLES = [
    ["The new phone's battery lasts two full days.", "technology, sports, politics, food"],
    ["这家餐厅的火锅味道很好，就是等位时间太长。", "美食, 体育, 政治, 科技"],
    ["The striker scored twice in the final minutes.", "technology, sports, politics, food"],
]


def scores_for_label_widget(result: Classification) -> dict[str, float]:
    return {score.label: score.score for score in result.scores}


@user_errors
def run_classification(
    registry: Registry, text: str, model: str, labels: str, multi_label: bool, request: gr.Request
) -> tuple[dict[str, float], str]:
    """Classify a text: with its own fixed labels (a fine-tuned classifier), or with labels you give (zero-shot).

    Args:
        text: the text to classify, at most 20,000 characters unless the deployment sets another limit.
        model: the classifier; zero-shot (NLI) models score the given labels, the others use their own.
        labels: for zero-shot models, the candidate labels separated by commas (100 at most); ignored otherwise.
        multi_label: for zero-shot models: score each label on its own, as several may be true at once.

    Returns:
        Each label's probability (the best first), and a line naming the model and where it ran.
    """
    text = clean_text(text)
    loaded = load_picked(registry, "classification", model, request=request)
    result = predict(loaded, [text], labels, bool(multi_label))[0]  # a fixed-label model ignores the hidden box
    return scores_for_label_widget(result), runs_on(loaded, request)


def labels_box_for(registry: Registry, choice: str) -> dict:
    """Show the labels box for zero-shot models (and typed-in ones, which may be); hide and empty it otherwise."""
    entry = next((e for e in registry.entries("classification") if choice in (e.name, e.model)), None)
    zero_shot_model = entry is None or bool(entry.option("zero_shot"))
    return gr.update(visible=zero_shot_model, value=None if zero_shot_model else "")


def build(registry: Registry) -> list[Carry]:
    with gr.Tab(t("classification.tab"), id="classification", elem_id="tab-classification"):
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label=t("classification.text"), lines=4)
                model = model_picker(registry, "classification")
                labels = gr.Textbox(
                    label=t("classification.labels"),
                    info=t("classification.labels_info"),
                    value="technology, sports, politics, food",
                    visible=bool(registry.default("classification").option("zero_shot")),
                )
                multi_label = gr.Checkbox(label=t("classification.multi_label"), value=False)
                button = gr.Button(t("classification.button"), variant="primary")
            with gr.Column():
                result = gr.Label(label=t("classification.result"), num_top_classes=10)
                status = model_status()
                what_if = gr.Button(t("whatif.carry"), size="sm")
        examples(EXAMPLES, [text, labels])
    model.change(bind(labels_box_for, registry), model, labels, api_visibility="private")
    inputs = [text, model, labels, multi_label]
    handler = bind(run_classification, registry)
    button.click(handler, inputs, [result, status], api_name="classify")
    text.submit(handler, inputs, [result, status], api_visibility="private")
    return [Carry(what_if, inputs, "whatif_classify", lambda text, *rest: [text, text, *rest])]
