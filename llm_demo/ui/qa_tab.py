"""Question answering tab: the answer, highlighted where it stands in the context, and the runners-up."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..inputs import check_range, clean_text
from ..registry import Registry
from ..tasks.qa import Answer, QASettings, answer
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
    "qa.tab": ("Question answering", "问答"),
    "qa.question": ("Question", "问题"),
    "qa.context": ("Context: the text that holds the answer", "上下文：包含答案的文本"),
    "qa.button": ("Answer", "回答"),
    "qa.answer": ("Answer", "答案"),
    "qa.highlight": ("Where the answer stands in the context", "答案在上下文中的位置"),
    "qa.top_k": ("Answers to show", "显示答案数"),
    "qa.max_answer": ("Max answer length (tokens)", "答案最大长度（词元）"),
    "qa.no_answer": ("The context may not contain the answer (SQuAD2 models)", "上下文可能不包含答案（SQuAD2 模型）"),
    "qa.no_answer_found": ("(no answer in the context)", "（上下文中没有答案）"),
    "qa.candidates": ("Best answers", "候选答案"),
    "qa.start": ("Start", "起始"),
    "qa.end": ("End", "结束"),
}
CANDIDATE_HEADERS = ("qa.answer", "common.score", "qa.start", "qa.end")
EXAMPLES = [
    [
        "Where is the Eiffel Tower?",
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was "
        "completed in 1889 as the entrance arch to the World's Fair.",
    ],
    ["长城有多长？", "长城是中国古代的军事防御工程，总长度超过两万一千千米，修建历史可以追溯到春秋战国时期。"],
    [
        "When was the tower completed?",
        "The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was "
        "completed in 1889 as the entrance arch to the World's Fair.",
    ],
]


def highlight(context: str, best: Answer) -> list[tuple[str, str | None]]:
    """The context in pieces, the answer marked, for gr.HighlightedText."""
    if best.is_empty:
        return [(context, None)]
    pieces = [(context[: best.start], None), (context[best.start : best.end], "answer"), (context[best.end :], None)]
    return [piece for piece in pieces if piece[0]]


@user_errors
def run_qa(
    registry: Registry,
    question: str,
    context: str,
    model: str,
    top_k: float,
    max_answer: float,
    allow_no_answer: bool,
    request: gr.Request,
) -> tuple[str, list, pd.DataFrame, str]:
    """Find the answer to a question in a text you give (extractive: the answer is a span of that text).

    Args:
        question: the question, at most 20,000 characters unless the deployment sets another limit.
        context: the text that holds the answer; long texts are read in overlapping windows.
        model: the question answering model; SQuAD2 models can say the text holds no answer.
        top_k: how many candidate answers to return, 1 to 20.
        max_answer: the longest answer, in tokens, 1 to 512.
        allow_no_answer: for SQuAD2 models: answer "no answer" when the text does not hold one.

    Returns:
        The best answer, the context with it marked, the candidates with score and character offsets, and the model.
    """
    question, context = clean_text(question, "question"), clean_text(context, "context")
    settings = QASettings(
        top_k=int(check_range("Answers to show", top_k, 1, 20)),
        max_answer_tokens=int(check_range("Max answer length", max_answer, 1, 512)),
        allow_no_answer=bool(allow_no_answer),
    )
    loaded = load_picked(registry, "qa", model, request=request)
    answers = answer(loaded, [question], [context], settings)[0]
    no_answer = say("qa.no_answer_found", request)
    headers = [say(key, request) for key in CANDIDATE_HEADERS]
    table = pd.DataFrame([(a.text or no_answer, round(a.score, 4), a.start, a.end) for a in answers], columns=headers)
    return answers[0].text or no_answer, highlight(context, answers[0]), table, runs_on(loaded, request)


def no_answer_default(registry: Registry, choice: str) -> bool:
    entry = next((e for e in registry.entries("qa") if choice in (e.name, e.model)), None)
    return bool(entry and entry.option("no_answer"))


def build(registry: Registry) -> list[ResultTable | Carry]:
    with gr.Tab(t("qa.tab"), id="qa", elem_id="tab-qa"):
        with gr.Row():
            with gr.Column():
                question = gr.Textbox(label=t("qa.question"))
                context = gr.Textbox(label=t("qa.context"), lines=8)
                model = model_picker(registry, "qa")
                with gr.Accordion(t("common.advanced"), open=False):
                    top_k = gr.Slider(1, 10, value=3, step=1, label=t("qa.top_k"))
                    max_answer = gr.Slider(1, 128, value=30, step=1, label=t("qa.max_answer"))
                    allow_no_answer = gr.Checkbox(
                        value=no_answer_default(registry, registry.choices("qa")[0]), label=t("qa.no_answer")
                    )
                button = gr.Button(t("qa.button"), variant="primary")
            with gr.Column():
                best = gr.Textbox(label=t("qa.answer"))
                marked = gr.HighlightedText(
                    label=t("qa.highlight"), combine_adjacent=True, color_map={"answer": "#fbbf24"}
                )
                candidates = result_table("qa.candidates", CANDIDATE_HEADERS)
                status = model_status()
                what_if = gr.Button(t("whatif.carry"), size="sm")
        examples(EXAMPLES, [question, context])
    model.change(bind(no_answer_default, registry), model, allow_no_answer, api_visibility="private")
    button.click(
        bind(run_qa, registry),
        [question, context, model, top_k, max_answer, allow_no_answer],
        [best, marked, candidates.component, status],
        api_name="answer",
    )
    carry = Carry(what_if, [question, context, model], "whatif_qa", lambda q, c, m: [q, c, q, c, m])
    return [candidates, carry]
