"""Text generation tab: the reply streams in token by token; Stop ends it at once."""

from __future__ import annotations

from collections.abc import Iterator

import gradio as gr

from ..inputs import clean_text
from ..registry import Registry
from ..tasks.generation import GenerationSettings, Waiting, fit_to_window, stream
from .carry import Carry
from .common import bind, examples, load_picked, model_picker, model_status, new_token_slider, runs_on, say, user_errors
from .i18n import t

TEXT = {
    "generation.tab": ("Text generation", "文本生成"),
    "generation.prompt": ("Prompt", "提示词"),
    "generation.system": ("System prompt (chat models only, optional)", "系统提示词（仅聊天模型，可选）"),
    "generation.output": ("Model output", "模型输出"),
    "generation.button": ("Generate", "生成"),
    "generation.max_new_tokens": ("Max new tokens", "最多生成词元数"),
    "generation.temperature": ("Temperature (0 = always the most likely token)", "温度（0 表示总是选最可能的词元）"),
    "generation.top_p": ("Top-p", "Top-p"),
    "generation.repetition_penalty": ("Repetition penalty", "重复惩罚"),
    "generation.seed": ("Seed (empty = random)", "随机种子（留空则随机）"),
    "generation.salience": ("Where did this come from?", "这段回答从何而来？"),
    "generation.capped": (
        "The reply stops after {new} new tokens: with the prompt, that fills the model's window of {window} tokens.",
        "回复最多 {new} 个新词元：加上提示词，已占满模型 {window} 个词元的窗口。",
    ),
    "generation.waiting": (
        "In line for the model: you are number {place}",
        "正在排队等待模型：你是第 {place} 位",
    ),
}
EXAMPLES = [
    ["Write a haiku about the sea."],
    ["Explain in two sentences what a language model is."],
    ["用三句话介绍一下长城。"],
]
ERRORS_ZH = {
    "generation_failed": "生成失败：{reason}",
    "bad_stop": "停止字符串必须是非空文本。",
}
MAX_NEW_TOKENS = 1024  # less where the model's window is smaller
# Every stream goes on to the engine, whose line is first come first served and tells each visitor its place
# (models/local/scheduler.py): how many run at once is the model's KV cache's to say. Gradio's queue holds 128.
GENERATION_CONCURRENCY = 128


@user_errors
def run_generation(
    registry: Registry,
    prompt: str,
    model: str,
    system_prompt: str,
    max_new_tokens: float,
    temperature: float,
    top_p: float,
    repetition_penalty: float,
    seed: float | None = None,
    request: gr.Request | None = None,
) -> Iterator[tuple[str, str]]:
    """Continue a prompt with a text generation model (a chat model answers it as the user's message).

    Args:
        prompt: the prompt to continue or answer, at most 20,000 characters unless the deployment sets another limit.
        model: the generation model; instruct models answer, plain ones (GPT-2) continue the text.
        system_prompt: instructions a chat model reads before the prompt; empty for none.
        max_new_tokens: most tokens to generate, 1 to 4096; fewer where the prompt and reply would overfill the window.
        temperature: 0 always picks the most likely token; higher (up to 5) gives more varied text.
        top_p: sample only from the most likely tokens whose probabilities add up to this, 0.01 to 1.
        repetition_penalty: 1 for none; higher (up to 3) makes repeating earlier tokens less likely.
        seed: a whole number for a reproducible sample; leave it out for a random one.

    Returns:
        The generated text, and a line naming the model and where it ran (and where the reply was cut).
    """
    prompt = clean_text(prompt, "prompt")
    settings = GenerationSettings(
        max_new_tokens=int(max_new_tokens),
        temperature=temperature,
        top_p=top_p,
        repetition_penalty=repetition_penalty,
        seed=None if seed is None else int(seed),
        system_prompt=(system_prompt or "").strip() or None,
    ).checked()
    loaded = load_picked(registry, "generation", model, request=request)
    fitted = fit_to_window(loaded, prompt, settings)
    status = runs_on(loaded, request)
    if fitted.max_new_tokens < settings.max_new_tokens:
        status += " · " + say("generation.capped", request, new=fitted.max_new_tokens, window=loaded.token_limit)
    yield "", status
    for text in stream(loaded, prompt, fitted):
        waiting = isinstance(text, Waiting)  # no room in the batch yet: the status says where in line
        yield text, status + " · " + say("generation.waiting", request, place=text.place) if waiting else status


def build(registry: Registry) -> list[Carry]:
    with gr.Tab(t("generation.tab"), id="generation", elem_id="tab-generation"):
        with gr.Row():
            with gr.Column():
                prompt = gr.Textbox(label=t("generation.prompt"), lines=5)
                model = model_picker(registry, "generation")
                with gr.Accordion(t("common.advanced"), open=False):
                    system_prompt = gr.Textbox("", label=t("generation.system"), lines=2)
                    max_new_tokens = new_token_slider(
                        registry, "generation", model, MAX_NEW_TOKENS, 128, "generation.max_new_tokens"
                    )
                    temperature = gr.Slider(0, 2, value=0.7, step=0.05, label=t("generation.temperature"))
                    top_p = gr.Slider(0.05, 1, value=0.95, step=0.01, label=t("generation.top_p"))
                    repetition_penalty = gr.Slider(1, 2, value=1.1, step=0.05, label=t("generation.repetition_penalty"))
                    seed = gr.Number(value=None, precision=0, minimum=0, label=t("generation.seed"))
                with gr.Row():
                    button = gr.Button(t("generation.button"), variant="primary")
                    stop = gr.Button(t("common.stop"), variant="stop")
            with gr.Column():
                output = gr.Textbox(label=t("generation.output"), lines=14, buttons=["copy"])
                status = model_status()
                salience = gr.Button(t("generation.salience"), size="sm")
        examples(EXAMPLES, [prompt])
    event = button.click(
        bind(run_generation, registry),
        [prompt, model, system_prompt, max_new_tokens, temperature, top_p, repetition_penalty, seed],
        [output, status],
        api_name="generate",
        concurrency_limit=GENERATION_CONCURRENCY,
        concurrency_id="generation",
    )
    stop.click(None, cancels=[event], api_visibility="private")
    # to the Inside tab's sequence salience, the whole reply as the span until the reader selects one
    return [Carry(salience, [prompt, output, model], "salience", lambda *values: [*values, 0, 0])]
