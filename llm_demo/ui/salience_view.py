"""The Inside tab's sequence salience: select a span of a generated answer and see which parts of the prompt it
came from (tasks/salience.py), by token, word, sentence or paragraph. A prompt and answer can be pasted,
carried from the Text generation tab, or generated here."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..models.types import GenerationSettings, Span, whole_reply
from ..registry import Registry
from ..tasks.generation import fit_to_window, stream
from ..tasks.salience import GROUPINGS, SequenceSalience, Shown, salience, shown
from .carry import Receiver, then_all
from .common import bind, load_picked, model_picker, model_status, runs_on, say, user_errors
from .i18n import t
from .safe_markdown import safe_markdown

EXAMPLE_PROMPT = (
    "Anna grew up in Lyon and moved to Berlin for work.\n\n"
    "She speaks French at home and German at the office.\n\n"
    "Question: which city does Anna live in now? Answer:"
)
Highlight = list[tuple[str, float | None]]


def _shaded(spans: list[Span]) -> Highlight:
    """Pieces for gr.HighlightedText, scores scaled so the strongest is full colour. The prompt and the answer are
    scaled apart: the tokens just before the span usually outweigh the whole prompt, which would fade."""
    scale = max((abs(span.score) for span in spans if span.score is not None), default=0.0) or 1.0
    return [(span.text, None if span.score is None else round(span.score / scale, 4)) for span in spans]


def _summary(result: SequenceSalience, grouped: Shown, grouping: str, request: gr.Request | None) -> str:
    pieces = [piece for piece in grouped.prompt + grouped.answer if piece.score is not None and piece.text.strip()]
    strongest = max(pieces, key=lambda piece: abs(piece.score), default=None)
    lines = [
        say(
            "inside.salience_summary",
            request,
            span=safe_markdown(result.text[result.target[0] : result.target[1]]),  # the user's or a model's text
            tokens=result.target_tokens,
            logprob=result.target_logprob,
            grouping=say(f"inside.by_{grouping}", request),
            strongest=safe_markdown(strongest.text.strip() if strongest else ""),
        )
    ]
    if result.cut_tokens:
        lines.append(say("inside.salience_cut", request, tokens=result.cut_tokens))
    if grouped.template_total:
        lines.append(say("inside.salience_template", request, total=grouped.template_total))
    return "\n\n".join(lines)


def _view(result: SequenceSalience, grouping: str, request: gr.Request | None) -> tuple[Highlight, Highlight, str]:
    grouped = shown(result, grouping)
    return _shaded(grouped.prompt), _shaded(grouped.answer), _summary(result, grouped, grouping, request)


@user_errors
def run_salience(
    registry: Registry,
    options: dict[str, Any],
    prompt: str,
    answer: str,
    span_start: float | None,
    span_end: float | None,
    grouping: str,
    model: str,
    request: gr.Request,
) -> tuple[Highlight, Highlight, str, str]:
    """Which parts of a prompt a span of a language model's answer came from: the gradient of the span's
    log-probability with respect to each earlier token, times that token's embedding (as LIT's sequence salience).

    Args:
        prompt: the prompt the model answered (a chat model reads it through its chat template).
        answer: the model's answer to it.
        span_start: where the span to explain starts in the answer, in characters from 0.
        span_end: where it ends (exclusive); 0 for the whole answer.
        grouping: sum the tokens' scores by "tokens", "words", "sentences" or "paragraphs".
        model: the generation (causal) language model, with its weights in this process.

    Returns:
        The prompt and the answer before the span with each piece's salience (-1 to 1, of the strongest), a
        summary, and the model.
    """
    loaded = load_picked(registry, "generation", model, request=request, **options)
    whole = not span_end
    result = salience(loaded, prompt, answer, None if whole else span_start, None if whole else span_end)
    return (*_view(result, grouping, request), runs_on(loaded, request))


@user_errors
def generate_answer(
    registry: Registry, options: dict[str, Any], prompt: str, model: str, max_new_tokens: float, request: gr.Request
) -> tuple[str, int, int]:
    """The model's most likely answer (greedy), and the span reset to the whole of it."""
    loaded = load_picked(registry, "generation", model, request=request, **options)
    settings = GenerationSettings(max_new_tokens=int(max_new_tokens), temperature=0).checked()
    return whole_reply(stream(loaded, prompt, fit_to_window(loaded, prompt, settings))), 0, 0


def selected_span(selected: gr.SelectData) -> tuple[int, int]:
    """The characters the reader selected in the answer."""
    start, end = selected.index
    return int(start), int(end)


def build_salience(registry: Registry, views: gr.Tabs, options: dict[str, Any]) -> list[Receiver]:
    """The view, over `registry`'s generation models loaded with `options`; how a generation arrives here."""
    with gr.Tab(t("inside.salience"), id="inside-salience"):
        gr.Markdown(t("inside.salience_about"))
        with gr.Row():
            with gr.Column():
                prompt = gr.Textbox(label=t("inside.prompt"), lines=6, value=EXAMPLE_PROMPT)
                answer = gr.Textbox(label=t("inside.answer"), lines=3, elem_id="salience-answer")
                model = model_picker(registry, "generation")
                with gr.Row():
                    span_start = gr.Number(0, precision=0, minimum=0, label=t("inside.span_start"))
                    span_end = gr.Number(0, precision=0, minimum=0, label=t("inside.span_end"))
                with gr.Row():
                    max_new_tokens = gr.Slider(1, 256, value=24, step=1, label=t("inside.max_new_tokens"))
                    generate = gr.Button(t("inside.generate"))
                button = gr.Button(t("inside.salience_button"), variant="primary")
            with gr.Column():
                grouping = gr.Radio(
                    [(t(f"inside.by_{name}"), name) for name in GROUPINGS], value="words", label=t("inside.grouping")
                )
                prompt_view = gr.HighlightedText(
                    label=t("inside.salience_prompt"), show_legend=True, show_inline_category=False
                )
                answer_view = gr.HighlightedText(label=t("inside.salience_answer"), show_inline_category=False)
                summary = gr.Markdown()
                status = model_status()
    inputs = [prompt, answer, span_start, span_end, grouping, model]
    # grouping another way runs the model again (a forward and a backward pass), so the endpoint keeps no state
    run = [(bind(run_salience, registry, options), inputs, [prompt_view, answer_view, summary, status])]
    button.click(*run[0], api_name="salience")
    then_all(answer.select(selected_span, None, [span_start, span_end], api_visibility="private"), run)
    grouping.input(*run[0], api_visibility="private")
    generating = generate.click(
        bind(generate_answer, registry, options),
        [prompt, model, max_new_tokens],
        [answer, span_start, span_end],
        api_visibility="private",
    )
    then_all(generating, run)
    fields = [prompt, answer, model, span_start, span_end]
    return [Receiver("salience", fields, "inside", [(views, "inside-salience")], run)]
