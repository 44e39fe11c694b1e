"""Inside the model: not only what a model answers but why, shown on the models the other tabs use.

Four views: masked-word prediction (how BERT-style models are pre-trained), self-attention maps,
integrated-gradients attributions for a label, and each token's surprise under a causal LM.
"""

from __future__ import annotations

import math

import gradio as gr
import pandas as pd
import torch

from ..errors import UserFacingError
from ..inputs import check_range, clean_text
from ..models import with_weights_here
from ..models.hub import read_config
from ..plotting import font_families
from ..registry import Registry
from ..tasks.attention import AttentionMaps, attention_maps
from ..tasks.attribution import Span, explain, surprise
from ..tasks.fill_mask import Filler, fill_mask, mask_token
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
from .safe_markdown import safe_markdown

TEXT = {
    "inside.tab": ("Inside the model", "模型内部"),
    "inside.intro": (
        "Not only what a model answers, but why: the ideas that make these models work, shown on "
        "the same models as the other tabs.",
        "不只看模型回答什么，还看它为什么这样回答：用其他标签页里的同一批模型，展示这些模型背后的原理。",
    ),
    "inside.sentence": ("Sentence", "句子"),
    "inside.text": ("Text", "文本"),
    "inside.fill_mask": ("Masked word", "掩码词预测"),
    "inside.fill_mask_about": (
        "BERT-style models are pre-trained by hiding words and predicting them. Put the "
        "model's mask token where a word is missing and see what it would fill in.",
        "BERT 类模型的预训练方式是遮住一些词再去预测它们。在缺词的位置放上模型的掩码标记，看看它会填什么。",
    ),
    "inside.insert_mask": ("Insert mask token", "插入掩码标记"),
    "inside.top_k": ("Candidates to show", "显示的候选数"),
    "inside.predict": ("Predict the hidden word", "预测被遮住的词"),
    "inside.fillers": ("Most probable fillers", "最可能的填充词"),
    "inside.attention": ("Self-attention", "自注意力"),
    "inside.attention_about": (
        "In every layer, each token builds its next representation from a weighted mix of "
        "all tokens. Row: the token looking; column: the token it looks at. Each row "
        "sums to 1.",
        "在每一层中，每个词元都按权重混合所有词元来构建自己的新表示。行：发出注意的词元；"
        "列：被关注的词元。每一行的权重之和为 1。",
    ),
    "inside.layer": ("Layer", "层"),
    "inside.head": ("Head", "注意力头"),
    "inside.show_attention": ("Show attention", "显示注意力"),
    "inside.attention_plot": ("Attention weights", "注意力权重"),
    "inside.attention_numbers": ("The chosen head's weights as numbers", "所选注意力头的权重数值"),
    "inside.attention_query": ("Token ↓ attends to →", "词元 ↓ 关注 →"),
    "inside.attention_head_title": (
        "Layer {layer} of {layers}, head {head} of {heads}",
        "第 {layer}/{layers} 层，第 {head}/{heads} 个头",
    ),
    "inside.attention_mean_title": ("Layer {layer}, mean over {heads} heads", "第 {layer} 层，{heads} 个头的平均"),
    "inside.attention_rows": ("Token (query)", "词元（查询）"),
    "inside.attention_columns": ("Attends to (key)", "关注的词元（键）"),
    "inside.explain": ("Why this label", "为什么是这个标签"),
    "inside.explain_about": (
        "Integrated gradients: how much each token pushed the predicted label's score up "
        "(red) or down (purple), compared with the same input with its words blanked out.",
        "积分梯度：与把词全部遮掉的输入相比，每个词元把预测标签的分数推高（红色）或拉低（紫色）了多少。",
    ),
    "inside.explain_button": ("Explain the label", "解释这个标签"),
    "inside.attributions": ("Token attributions", "词元贡献"),
    "inside.prediction": ("Prediction", "预测结果"),
    "inside.explain_summary": (
        "**{label}**: logit {logit:.4f}, baseline logit {baseline:.4f}. The attributions "
        "add up to {total:.4f} (off by {gap:.1e}).",
        "**{label}**：logit 为 {logit:.4f}，基线 logit 为 {baseline:.4f}。各词元贡献之和为 "
        "{total:.4f}（误差 {gap:.1e}）。",
    ),
    "inside.surprise": ("Token surprise", "词元意外度"),
    "inside.surprise_about": (
        "A language model gives every text a probability, one token at a time. Redder "
        "tokens were less expected given the tokens before them. Perplexity is "
        "exp(mean negative log-probability): lower means less surprised.",
        "语言模型逐个词元地为文本计算概率。颜色越红，说明在前文条件下这个词元越出乎模型意料。"
        "困惑度 = exp(平均负对数概率)，越低说明模型越不意外。",
    ),
    "inside.surprise_button": ("Measure surprise", "计算意外度"),
    "inside.surprise_text": ("Surprise per token", "每个词元的意外度"),
    "inside.perplexity": ("Perplexity", "困惑度"),
    "inside.surprise_table": ("Log-probability of each piece", "每个片段的对数概率"),
    "inside.piece": ("Piece", "片段"),
    "inside.logprob": ("Log-probability", "对数概率"),
    "inside.probability": ("Probability", "概率"),
}
ERRORS_ZH = {
    "no_mask_token": "“{model}”没有掩码标记，无法预测被遮住的词。",
    "no_mask": "请在缺词的位置放上掩码标记 {mask}。",
    "several_masks": "掩码标记 {mask} 只能用一次；文本中出现了 {count} 次。",
    "too_many_tokens": "文本有 {tokens} 个词元；此视图最多处理 {limit} 个。请缩短文本。",
}
FILL_MASK_EXAMPLES = [
    ["Paris is the [MASK] of France."],
    ["The doctor said the [MASK] would be fine."],
    ["巴黎是法国的[MASK]都。"],
]
ATTENTION_EXAMPLES = [["The animal didn't cross the street because it was too tired."], ["The cat sat on the mat."]]
EXPLAIN_EXAMPLES = [
    ["I loved this film, the acting was wonderful."],
    ["The service was slow and the food cold."],
    ["这家店的服务太好了，下次还来！"],
]
SURPRISE_EXAMPLES = [["The cat sat on the mat."], ["The mat sat on the cat."], ["今天天气很好，我们去公园散步吧。"]]
# The numbers these views show (attention rows summing to 1, attributions adding up to the score's change) hold
# to fp32 precision only when computed in it, so their models load in fp32 even where the tabs run in bf16.
VIEW_DTYPE = torch.float32
ENCODER_TASKS = ("fill_mask", "classification")  # any encoder can show its attention
LABEL_TASKS = ("sentiment", "classification")  # classifiers, a sentiment model first (a zero-shot one needs labels)
SURPRISE_HEADERS = ("inside.piece", "inside.logprob", "inside.probability")


# --- shared display helpers ----------------------------------------------------------------------------


def _shaded(spans: list[Span], scale: float) -> list[tuple[str, float | None]]:
    """HighlightedText pieces with scores divided by `scale`, into the [-1, 1] range it colours."""
    scale = scale or 1.0
    return [(span.text, None if span.score is None else round(span.score / scale, 4)) for span in spans]


def _visible_spaces(piece: str) -> str:
    """A table cell holding only a space would look empty; show spaces as ␣."""
    return piece.replace(" ", "␣")


# --- masked word ---------------------------------------------------------------------------------------


def _filler_names(fillers: list[Filler]) -> list[str]:
    """Words as they read; the raw vocabulary entries when two words read the same (e.g. "▁the" and "the")."""
    words = [filler.word for filler in fillers]
    if all(words) and len(set(words)) == len(words):
        return words
    return [filler.token for filler in fillers]


@user_errors
def run_fill_mask(
    registry: Registry, text: str, model: str, top_k: float, request: gr.Request
) -> tuple[dict[str, float], str]:
    text = clean_text(text)
    loaded = load_picked(registry, "fill_mask", model, request=request, dtype=VIEW_DTYPE)
    fillers = fill_mask(loaded, [text], top_k)[0]
    return dict(zip(_filler_names(fillers), (filler.probability for filler in fillers))), runs_on(loaded, request)


@user_errors
def insert_mask(registry: Registry, text: str, model: str, request: gr.Request) -> str:
    """Append the picked model's own mask token, since models spell it differently ([MASK], <mask>)."""
    mask = mask_token(load_picked(registry, "fill_mask", model, request=request, dtype=VIEW_DTYPE))
    return f"{(text or '').rstrip()} {mask}".lstrip()


def _build_fill_mask(registry: Registry) -> None:
    with gr.Tab(t("inside.fill_mask"), id="inside-fill-mask"):
        gr.Markdown(t("inside.fill_mask_about"))
        with gr.Row():
            with gr.Column():
                sentence = gr.Textbox(label=t("inside.sentence"), lines=3)
                model = model_picker(registry, "fill_mask")
                top_k = gr.Slider(1, 20, value=5, step=1, label=t("inside.top_k"))
                with gr.Row():
                    insert = gr.Button(t("inside.insert_mask"))
                    button = gr.Button(t("inside.predict"), variant="primary")
            with gr.Column():
                fillers = gr.Label(label=t("inside.fillers"))
                status = model_status()
        examples(FILL_MASK_EXAMPLES, [sentence])
    insert.click(bind(insert_mask, registry), [sentence, model], sentence, api_visibility="private")
    handler = bind(run_fill_mask, registry)
    button.click(handler, [sentence, model, top_k], [fillers, status], api_name="fill_mask")
    sentence.submit(handler, [sentence, model, top_k], [fillers, status], api_visibility="private")


# --- self-attention ------------------------------------------------------------------------------------


def _attention_figure(maps: AttentionMaps, layer: int, head: int, request: gr.Request | None):
    """Two heatmaps side by side: the chosen head, and the mean over the layer's heads."""
    from matplotlib.figure import Figure

    panels = [
        (
            say(
                "inside.attention_head_title",
                request,
                layer=layer + 1,
                layers=maps.layers,
                head=head + 1,
                heads=maps.heads,
            ),
            maps.head(layer, head),
        ),
        (say("inside.attention_mean_title", request, layer=layer + 1, heads=maps.heads), maps.mean_over_heads(layer)),
    ]
    side = max(4.0, 0.3 * len(maps.tokens) + 1.5)
    figure = Figure(figsize=(2 * side + 1, side), layout="constrained")
    font = {"family": list(font_families()), "size": 8, "parse_math": False}  # tokens as written, never as math
    for axes, (title, weights) in zip(figure.subplots(1, 2), panels):
        image = axes.imshow(weights.numpy(), cmap="viridis", vmin=0)
        positions = range(len(maps.tokens))
        axes.set_xticks(positions, maps.tokens, rotation=90, fontdict=font)
        axes.set_yticks(positions, maps.tokens, fontdict=font)
        axes.set_title(title, fontdict={**font, "size": 10})
        axes.set_xlabel(say("inside.attention_columns", request), fontdict=font)
        axes.set_ylabel(say("inside.attention_rows", request), fontdict=font)
        figure.colorbar(image, ax=axes, shrink=0.8)
    return figure


def _attention_table(maps: AttentionMaps, layer: int, head: int, request: gr.Request | None) -> pd.DataFrame:
    """The head's weights with numbered tokens as headers, since a sentence can repeat a token."""
    names = [f"{index} {token}" for index, token in enumerate(maps.tokens, start=1)]
    table = pd.DataFrame(maps.head(layer, head).double().numpy().round(4), columns=names)
    table.insert(0, say("inside.attention_query", request), names)
    return table


@user_errors
def run_attention(
    registry: Registry, text: str, model: str, layer: float, head: float, request: gr.Request
) -> tuple[object, pd.DataFrame, str]:
    text = clean_text(text)
    loaded = load_picked(
        registry, ENCODER_TASKS, model, request=request, kind="encoder", attn_implementation="eager", dtype=VIEW_DTYPE
    )
    maps = attention_maps(loaded, [text])[0]
    layer = int(check_range("Layer", layer, 1, maps.layers)) - 1
    head = int(check_range("Head", head, 1, maps.heads)) - 1
    return (
        _attention_figure(maps, layer, head, request),
        _attention_table(maps, layer, head, request),
        runs_on(loaded, request),
    )


def size_attention_sliders(registry: Registry, model: str) -> tuple[dict, dict]:
    """Layer and head sliders that end at the model's own counts, read from its config alone.

    When the config cannot be read (an unknown or unreachable model) the sliders stay as they are;
    showing the attention then gives the clear error.
    """
    try:
        config = read_config(registry.resolve(ENCODER_TASKS, model))
    except UserFacingError:
        return gr.update(), gr.update()
    return (
        gr.update(maximum=config.num_hidden_layers, value=1),
        gr.update(maximum=config.num_attention_heads, value=1),
    )


def _build_attention(registry: Registry) -> ResultTable:
    with gr.Tab(t("inside.attention"), id="inside-attention") as tab:
        gr.Markdown(t("inside.attention_about"))
        with gr.Row():
            with gr.Column(scale=1):
                sentence = gr.Textbox(label=t("inside.sentence"), lines=3)
                model = model_picker(registry, ENCODER_TASKS)
                with gr.Row():
                    layer = gr.Slider(1, 24, value=1, step=1, label=t("inside.layer"))
                    head = gr.Slider(1, 16, value=1, step=1, label=t("inside.head"))
                button = gr.Button(t("inside.show_attention"), variant="primary")
                status = model_status()
            with gr.Column(scale=2):
                plot = gr.Plot(label=t("inside.attention_plot"), format="png")
        with gr.Accordion(t("inside.attention_numbers"), open=False):
            table = result_table("inside.attention_numbers", ("inside.attention_query",))
        examples(ATTENTION_EXAMPLES, [sentence])
    sizing = bind(size_attention_sliders, registry)
    for event in (tab.select, model.change):
        event(sizing, model, [layer, head], api_visibility="private", queue=False)
    handler = bind(run_attention, registry)
    inputs = [sentence, model, layer, head]
    button.click(handler, inputs, [plot, table.component, status], api_name="attention")
    sentence.submit(handler, inputs, [plot, table.component, status], api_visibility="private")
    return table


# --- why this label ------------------------------------------------------------------------------------


@user_errors
def run_explain(
    registry: Registry, text: str, model: str, request: gr.Request
) -> tuple[list[tuple[str, float | None]], dict[str, float], str, str]:
    text = clean_text(text)
    loaded = load_picked(registry, LABEL_TASKS, model, request=request, dtype=VIEW_DTYPE)
    result = explain(loaded, text)
    strongest = max((abs(score) for score in result.scores), default=0.0)
    summary = say(
        "inside.explain_summary",
        request,
        label=safe_markdown(result.prediction.label),  # a label a model's config names
        logit=result.logit,
        baseline=result.baseline_logit,
        total=sum(result.scores),
        gap=abs(result.completeness_gap),
    )
    scores = {score.label: score.score for score in result.prediction.scores}
    return _shaded(result.spans, strongest), scores, summary, runs_on(loaded, request)


def _build_explain(registry: Registry) -> None:
    with gr.Tab(t("inside.explain"), id="inside-explain"):
        gr.Markdown(t("inside.explain_about"))
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label=t("inside.text"), lines=4)
                model = model_picker(registry, LABEL_TASKS)
                button = gr.Button(t("inside.explain_button"), variant="primary")
                prediction = gr.Label(label=t("inside.prediction"), num_top_classes=5)
            with gr.Column():
                attributions = gr.HighlightedText(label=t("inside.attributions"), show_inline_category=False)
                summary = gr.Markdown()
                status = model_status()
        examples(EXPLAIN_EXAMPLES, [text])
    handler = bind(run_explain, registry)
    outputs = [attributions, prediction, summary, status]
    button.click(handler, [text, model], outputs, api_name="explain")
    text.submit(handler, [text, model], outputs, api_visibility="private")


# --- token surprise ------------------------------------------------------------------------------------


@user_errors
def run_surprise(
    registry: Registry, text: str, model: str, request: gr.Request
) -> tuple[list[tuple[str, float | None]], float, pd.DataFrame, str]:
    text = clean_text(text)
    loaded = load_picked(registry, "generation", model, request=request, dtype=VIEW_DTYPE)
    result = surprise(loaded, text)
    scored = [span for span in result.spans if span.score is not None]
    most_surprised = max((-span.score for span in scored), default=0.0)
    headers = [say(key, request) for key in SURPRISE_HEADERS]
    table = pd.DataFrame(
        [(_visible_spaces(span.text), round(span.score, 4), round(math.exp(span.score), 4)) for span in scored],
        columns=headers,
    )
    # log-probabilities are <= 0: dividing by minus the largest surprise gives 0 (expected) to 1 (most surprising)
    return (_shaded(result.spans, -most_surprised), round(result.perplexity, 4), table, runs_on(loaded, request))


def _build_surprise(registry: Registry) -> ResultTable:
    with gr.Tab(t("inside.surprise"), id="inside-surprise"):
        gr.Markdown(t("inside.surprise_about"))
        with gr.Row():
            with gr.Column():
                text = gr.Textbox(label=t("inside.text"), lines=4)
                model = model_picker(registry, "generation")
                button = gr.Button(t("inside.surprise_button"), variant="primary")
                perplexity = gr.Number(label=t("inside.perplexity"), interactive=False)
            with gr.Column():
                shaded = gr.HighlightedText(label=t("inside.surprise_text"), show_inline_category=False)
                status = model_status()
        table = result_table("inside.surprise_table", SURPRISE_HEADERS, wrap=True)
        examples(SURPRISE_EXAMPLES, [text])
    handler = bind(run_surprise, registry)
    outputs = [shaded, perplexity, table.component, status]
    button.click(handler, [text, model], outputs, api_name="surprise")
    text.submit(handler, [text, model], outputs, api_visibility="private")
    return table


def build(registry: Registry) -> list[ResultTable]:
    local = with_weights_here(registry)  # these views read the weights, which a model server keeps to itself
    with gr.Tab(t("inside.tab"), id="inside", elem_id="tab-inside"):
        gr.Markdown(t("inside.intro"))
        with gr.Tabs():
            if local.entries("fill_mask"):  # fill_mask is optional in models.yaml
                _build_fill_mask(local)
            tables = [_build_attention(local)]
            _build_explain(local)
            tables.append(_build_surprise(registry))  # log-probabilities a server gives too
    return tables
