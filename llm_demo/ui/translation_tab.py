"""Translation tab: text in, translation out, with beam and length controls."""

from __future__ import annotations

import gradio as gr

from ..inputs import check_range, clean_text
from ..registry import Registry
from ..tasks.translation import TranslationSettings, translate
from .common import bind, examples, load_picked, model_picker, model_status, new_token_slider, runs_on, user_errors
from .i18n import t

TEXT = {
    "translation.tab": ("Translation", "翻译"),
    "translation.source": ("Text to translate", "要翻译的文本"),
    "translation.target": ("Translation", "译文"),
    "translation.button": ("Translate", "翻译"),
    "translation.beams": ("Beam size", "束搜索宽度"),
    "translation.max_tokens": ("Max new tokens per sentence", "每句最多生成词元数"),
    "translation.source_lang": (
        "Source language: code (NLLB/M2M100) or name (models on a server)",
        "源语言：代码（NLLB/M2M100）或名称（服务器上的模型）",
    ),
    "translation.target_lang": (
        "Target language: code (NLLB/M2M100) or name (models on a server)",
        "目标语言：代码（NLLB/M2M100）或名称（服务器上的模型）",
    ),
    "translation.lang_info": (
        "Filled in from the model list; e.g. zho_Hans, eng_Latn, or Chinese, English.",
        "根据模型列表自动填写，例如 zho_Hans、eng_Latn，或 Chinese、English。",
    ),
}
MAX_NEW_TOKENS = 1024  # per sentence; less where the model's decoder holds fewer positions
EXAMPLES = [
    ["今天天气很好，我们去公园散步吧。", "Chinese → English (opus-mt-zh-en)"],
    [
        "Machine translation has improved a lot in recent years. It still makes mistakes.",
        "English → Chinese (opus-mt-en-zh)",
    ],
    ["The meeting starts at nine. Please bring the report.", "English → German (opus-mt-en-de)"],
]


@user_errors
def run_translation(
    registry: Registry,
    text: str,
    model: str,
    beams: float,
    max_tokens: float,
    source_lang: str,
    target_lang: str,
    request: gr.Request,
) -> tuple[str, str]:
    """Translate a text with a translation model; a long text is cut into sentences, its line breaks kept.

    Args:
        text: the text to translate, at most 20,000 characters unless the deployment sets another limit.
        model: the translation model; most translate one language pair, which their name gives.
        beams: beam search width, 1 to 8: more beams search longer for a better translation.
        max_tokens: most new tokens per sentence, 1 to 1024 (less where the model's decoder is shorter).
        source_lang: the text's language: NLLB/M2M100 code (zho_Hans) or name (served models); empty: as listed.
        target_lang: the language to translate into, as source_lang; empty: the model list's, if any.

    Returns:
        The translation, and a line naming the model and where it ran.
    """
    text = clean_text(text)
    listed = _language_codes(registry, model or registry.choices("translation")[0])  # an API call may leave them
    settings = TranslationSettings(
        num_beams=int(check_range("Beam size", beams, 1, 8)),
        max_new_tokens=int(check_range("Max new tokens", max_tokens, 1, MAX_NEW_TOKENS)),
        source_lang=(source_lang or "").strip() or listed[0] or None,
        target_lang=(target_lang or "").strip() or listed[1] or None,
    )
    loaded = load_picked(registry, "translation", model, request=request)
    return translate(loaded, [text], settings)[0], runs_on(loaded, request)


def _language_codes(registry: Registry, model: str) -> tuple[str, str]:
    for entry in registry.entries("translation"):
        if model in (entry.name, entry.model):
            return entry.option("source_lang", ""), entry.option("target_lang", "")
    return "", ""


def build(registry: Registry) -> None:
    with gr.Tab(t("translation.tab"), id="translation", elem_id="tab-translation"):
        with gr.Row():
            with gr.Column():
                source = gr.Textbox(label=t("translation.source"), lines=6)
                model = model_picker(registry, "translation")
                with gr.Accordion(t("common.advanced"), open=False):
                    beams = gr.Slider(1, 8, value=4, step=1, label=t("translation.beams"))
                    max_tokens = new_token_slider(
                        registry, "translation", model, MAX_NEW_TOKENS, 256, "translation.max_tokens"
                    )
                    first_codes = _language_codes(registry, registry.choices("translation")[0])
                    source_lang = gr.Textbox(
                        value=first_codes[0], label=t("translation.source_lang"), info=t("translation.lang_info")
                    )
                    target_lang = gr.Textbox(value=first_codes[1], label=t("translation.target_lang"))
                button = gr.Button(t("translation.button"), variant="primary")
            with gr.Column():
                target = gr.Textbox(label=t("translation.target"), lines=6, buttons=["copy"])
                status = model_status()
        offered = [row for row in EXAMPLES if row[1] in registry.choices("translation")]
        if offered:  # examples name their model; a deployment with other models skips them
            examples(offered, [source, model])
    model.change(
        lambda choice: _language_codes(registry, choice), model, [source_lang, target_lang], api_visibility="private"
    )
    inputs = [source, model, beams, max_tokens, source_lang, target_lang]
    handler = bind(run_translation, registry)
    button.click(handler, inputs, [target, status], api_name="translate")
    source.submit(handler, inputs, [target, status], api_visibility="private")
