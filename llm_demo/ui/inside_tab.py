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
from .carry import Receiver
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
from .inside_text import ERRORS_ZH, TEXT  # noqa: F401 - the tab's strings, read through this module
from .safe_markdown import safe_markdown
from .salience_view import build_salience

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
GRADIENT_LOAD = {"dtype": VIEW_DTYPE, "packed": False}  # a generation model whose gradients salience takes: one
# fp32 copy, its linear layers not packed for decoding (onednn.py), shared with token surprise
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
    """Predict the masked word of a sentence with a masked language model (BERT-style), as in its pre-training.

    Args:
        text: a sentence with one masked word, written [MASK] or <mask> (either is read as the model's own).
        model: the masked language model.
        top_k: how many candidate words to return, 1 to 50.

    Returns:
        Each candidate word's probability (the likeliest first), and a line naming the model and where it ran.
    """
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
    """Explain a classifier's label for a text: how much each word pushed towards it (integrated gradients).

    Args:
        text: the text to classify and explain, at most 20,000 characters unless set otherwise.
        model: a sentiment model or a fixed-label classifier.

    Returns:
        The words with their attributions (-1 to 1), the labels' probabilities, a summary, and the model.
    """
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
    """How surprised a language model is by each token of a text, and the text's perplexity (lower: more expected).

    Args:
        text: the text to score, at most 20,000 characters unless set otherwise.
        model: the generation (causal) language model.

    Returns:
        The tokens shaded by surprise, the perplexity, each token's log-probability and probability, and the model.
    """
    text = clean_text(text)
    loaded = load_picked(registry, "generation", model, request=request, **GRADIENT_LOAD)
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


def build(registry: Registry) -> list[ResultTable | Receiver]:
    local = with_weights_here(registry)  # these views read the weights, which a model server keeps to itself
    with gr.Tab(t("inside.tab"), id="inside", elem_id="tab-inside"):
        gr.Markdown(t("inside.intro"))
        with gr.Tabs() as views:
            if local.entries("fill_mask"):  # fill_mask is optional in models.yaml
                _build_fill_mask(local)
            built = [_build_attention(local)]
            _build_explain(local)
            built.append(_build_surprise(registry))  # log-probabilities a server gives too
            built += build_salience(local, views, GRADIENT_LOAD)
    return built
