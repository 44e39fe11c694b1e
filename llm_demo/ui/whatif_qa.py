"""The What if? tab's question answering view: a question and its context, and an edited copy of either, through
the same QA model; the best answer to each, and what the edit changed."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..inputs import clean_text
from ..models.types import Answer, QASettings
from ..registry import Registry
from ..tasks.what_if import what_if_answer
from .carry import Receiver, then_all
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
from .qa_tab import no_answer_default
from .safe_markdown import safe_markdown
from .whatif_views import diff_pieces, diff_view, history_panel, remembered, step_back_on

ANSWER_HEADERS = ("whatif.version", "whatif.answer", "whatif.score")
CONTEXT = (
    "The Eiffel Tower is a wrought-iron lattice tower in Paris, France. It was completed in 1889 as the "
    "entrance arch to the World's Fair."
)
EXAMPLES = [
    ["When was the tower completed?", CONTEXT, "When was the tower completed?", CONTEXT.replace("1889", "1887")],
    ["Where is the Eiffel Tower?", CONTEXT, "Where is the tower?", CONTEXT],
]


def _said(answer: Answer, request: gr.Request | None) -> str:
    return answer.text or say("whatif.no_answer", request)


@user_errors
def run_what_if_answer(
    registry: Registry,
    question: str,
    context: str,
    edited_question: str,
    edited_context: str,
    model: str,
    request: gr.Request,
) -> tuple[list, list, pd.DataFrame, str, str]:
    """Answer a question from a context, and again after an edit of the question, the context or both, with the
    same extractive QA model, to see what the edit changes.

    Args:
        question: the question as it was.
        context: the text that holds the answer, as it was.
        edited_question: the question after the edit (the same as `question` to edit only the context).
        edited_context: the context after the edit (the same as `context` to edit only the question).
        model: the question answering model.

    Returns:
        What the edit changed in the question and in the context (removed text marked "−", added "+"), the best
        answer and its score for both, a summary, and the model.
    """
    question, context = clean_text(question, "question"), clean_text(context, "context")
    edited_question, edited_context = clean_text(edited_question, "question"), clean_text(edited_context, "context")
    loaded = load_picked(registry, "qa", model, request=request)
    settings = QASettings(allow_no_answer=no_answer_default(registry, model))
    result = what_if_answer(loaded, question, context, edited_question, edited_context, settings)
    before, after = _said(result.before, request), _said(result.after, request)
    scores = {"before_score": result.before.score, "after_score": result.after.score}
    if result.changed:
        summary = say(
            "whatif.answer_changed", request, before=safe_markdown(before), after=safe_markdown(after), **scores
        )
    else:
        summary = say("whatif.answer_kept", request, answer=safe_markdown(before), **scores)
    rows = [
        (say("whatif.before", request), before, round(result.before.score, 4)),
        (say("whatif.after", request), after, round(result.after.score, 4)),
    ]
    return (
        diff_pieces(result.question_diff),
        diff_pieces(result.context_diff),
        pd.DataFrame(rows, columns=[say(key, request) for key in ANSWER_HEADERS]),
        summary,
        runs_on(loaded, request),
    )


def remember_answer(
    history: list[dict] | None, edited_question: str, edited_context: str, answers: pd.DataFrame, request: gr.Request
) -> tuple[pd.DataFrame, list[dict]]:
    """The compared edit into the visit's edits, with the edited copy's answer (the table's second row)."""
    if answers is None or len(answers) < 2:  # the comparison was refused
        return gr.update(), history
    result = f"{answers.iloc[1, 1]} {float(answers.iloc[1, 2]):.3f}"
    return remembered(history, [edited_question, edited_context], result, request)


def build_qa(registry: Registry, views: gr.Tabs) -> list:
    """The view's widgets and events; its tables, and how a QA tab's input arrives here."""
    with gr.Tab(t("whatif.qa_view"), id="whatif-qa"):
        with gr.Row():
            with gr.Column():
                question = gr.Textbox(label=t("whatif.question"))
                context = gr.Textbox(label=t("whatif.context"), lines=5)
                edited_question = gr.Textbox(label=t("whatif.edited_question"))
                edited_context = gr.Textbox(label=t("whatif.edited_context"), lines=5)
                model = model_picker(registry, "qa")
                button = gr.Button(t("whatif.compare"), variant="primary")
            with gr.Column():
                question_diff = diff_view("whatif.question_diff")
                context_diff = diff_view("whatif.context_diff")
                summary = gr.Markdown()
                answers: ResultTable = result_table("whatif.answers", ANSWER_HEADERS, wrap=True)
                status = model_status()
        examples(EXAMPLES, [question, context, edited_question, edited_context])
        history, past, back = history_panel()
    inputs = [question, context, edited_question, edited_context, model]
    outputs = [question_diff, context_diff, answers.component, summary, status]
    remember = (
        remember_answer,
        [history, edited_question, edited_context, answers.component],
        [past.component, history],
    )
    run = [(bind(run_what_if_answer, registry), inputs, outputs), remember]
    then_all(button.click(*run[0], api_name="what_if_answer"), run[1:])
    step_back_on(back, history, [edited_question, edited_context], run)
    return [answers, past, Receiver("whatif_qa", inputs, "whatif", [(views, "whatif-qa")], run)]
