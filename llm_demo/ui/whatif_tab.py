"""What if? An input and an edited copy side by side through the same model (a classifier, or a QA model): each
label's probability or the answer for both, the edit marked word by word, and the visit's edits to step back
through; and, for classifiers, the smallest edits that flip the label (tasks/counterfactuals.py).

The task tabs' "What if?" buttons carry their input here (ui/carry.py).
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..inputs import clean_text
from ..registry import Registry
from ..tasks.counterfactuals import counterfactuals
from ..tasks.what_if import what_if
from .carry import Receiver, then_all
from .common import (
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
from .whatif_qa import build_qa
from .whatif_text import TEXT  # noqa: F401 - the tab's strings, read through this module
from .whatif_views import diff_pieces, diff_view, history_panel, remembered, step_back_on

LABEL_TASKS = ("sentiment", "classification")  # the classifiers of both tabs
SCORE_HEADERS = ("whatif.label", "whatif.before", "whatif.after", "whatif.change")
FLIP_HEADERS = ("whatif.kind", "whatif.flip_text", "whatif.changed", "whatif.new_label", "whatif.probability")
EXAMPLES = [
    ["I loved this film, the acting was wonderful.", "I loved this film, the acting was dreadful."],
    ["这家店的服务太好了，下次还来！", "这家店的服务太差了，下次不来了！"],
]


# --- classification ------------------------------------------------------------------------------------


@user_errors
def run_what_if(
    registry: Registry,
    original: str,
    edited: str,
    model: str,
    labels: str,
    multi_label: bool,
    request: gr.Request,
) -> tuple[list, pd.DataFrame, str, str]:
    """Classify a text and an edited copy of it with the same model, to see what the edit changes.

    Args:
        original: the text as it was, at most 20,000 characters unless set otherwise.
        edited: the same text with some words changed.
        model: a sentiment model or a classifier; zero-shot models score the given labels.
        labels: for zero-shot models, the candidate labels separated by commas; ignored otherwise.
        multi_label: for zero-shot models: score each label on its own, as several may be true at once.

    Returns:
        The word diff (removed text marked "−", added "+"), each label's probability for both texts and the
        change, a summary, and the model.
    """
    original, edited = clean_text(original), clean_text(edited)
    loaded = load_picked(registry, LABEL_TASKS, model, request=request)
    result = what_if(loaded, original, edited, labels, bool(multi_label))
    before, after = result.original, result.edited
    if result.flipped:
        summary = say(
            "whatif.flipped",
            request,
            before=safe_markdown(before.label),  # a label a model's config (or a user) names
            before_score=before.score,
            after=safe_markdown(after.label),
            after_score=after.score,
        )
    else:
        label = safe_markdown(before.label)
        summary = say("whatif.kept", request, label=label, before_score=before.score, after_score=after.score)
    table = pd.DataFrame(
        [
            (change.label, round(change.before, 4), round(change.after, 4), f"{change.change:+.4f}")
            for change in result.changes
        ],
        columns=[say(key, request) for key in SCORE_HEADERS],
    )
    return diff_pieces(result.diff), table, summary, runs_on(loaded, request)


def remember_edit(
    history: list[dict] | None, edited: str, scores: pd.DataFrame, request: gr.Request
) -> tuple[pd.DataFrame, list[dict]]:
    """The compared edit into the visit's edits, with the edited text's label: the likeliest in the table."""
    if scores is None or scores.empty:  # the comparison was refused
        return gr.update(), history
    best = scores.iloc[:, 2].astype(float).idxmax()
    return remembered(history, [edited], f"{scores.iloc[best, 0]} {float(scores.iloc[best, 2]):.3f}", request)


def labels_box_for(registry: Registry, choice: str) -> dict:
    """The labels box shows for zero-shot models (and typed-in ones, which may be); its text stays as it is."""
    entry = next((e for task in LABEL_TASKS for e in registry.entries(task) if choice in (e.name, e.model)), None)
    return gr.update(visible=entry is None or bool(entry.option("zero_shot")))


# --- counterfactuals -----------------------------------------------------------------------------------


@user_errors
def run_counterfactuals(
    registry: Registry, text: str, model: str, labels: str, multi_label: bool, max_calls: float, request: gr.Request
) -> tuple[pd.DataFrame, str, str]:
    """Find small edits of a text that change a classifier's label, each verified by classifying it again: the
    fewest words whose removal flips it, and single words replaced as the gradient toward another label proposes
    (HotFlip; only for models whose weights are in this process, and not zero-shot ones).

    Args:
        text: the text to edit, at most 20,000 characters unless set otherwise.
        model: a sentiment model or a classifier; zero-shot models score the given labels.
        labels: for zero-shot models, the candidate labels separated by commas; ignored otherwise.
        multi_label: for zero-shot models: score each label on its own, as several may be true at once.
        max_calls: the most texts the model may classify in the search and its checks, 20 to 1,000.

    Returns:
        The verified flips (kind, edited text, the words changed, new label, its probability), a summary, the
        model.
    """
    text = clean_text(text)
    loaded = load_picked(registry, LABEL_TASKS, model, request=request)
    result = counterfactuals(loaded, text, labels, bool(multi_label), int(max_calls))
    rows = [
        (say(f"whatif.{flip.kind}", request), flip.text, ", ".join(flip.changed), flip.label, round(flip.score, 4))
        for flip in result.flips
    ]
    table = pd.DataFrame(rows, columns=[say(key, request) for key in FLIP_HEADERS])
    values = {"label": safe_markdown(result.original.label), "calls": result.calls, "count": len(result.flips)}
    note = say("whatif.found" if result.flips else "whatif.none_found", request, **values)
    if result.substitution_skipped:
        note += "\n\n" + say(f"whatif.{result.substitution_skipped}", request)
    return table, note, runs_on(loaded, request)


def use_flip(selected: gr.SelectData) -> str | dict:
    """A clicked flip's edited text becomes the edited copy."""
    row = selected.row_value or []
    return row[1] if len(row) > 1 else gr.update()


def _build_classify(registry: Registry, views: gr.Tabs) -> list:
    with gr.Tab(t("whatif.classify_view"), id="whatif-classify"):
        with gr.Row():
            with gr.Column():
                original = gr.Textbox(label=t("whatif.original"), lines=3)
                edited = gr.Textbox(label=t("whatif.edited"), lines=3)
                model = model_picker(registry, LABEL_TASKS)
                labels = gr.Textbox(
                    label=t("classification.labels"),
                    value="technology, sports, politics, food",
                    visible=bool(registry.default(LABEL_TASKS).option("zero_shot")),
                )
                multi_label = gr.Checkbox(label=t("classification.multi_label"), value=False)
                button = gr.Button(t("whatif.compare"), variant="primary")
            with gr.Column():
                diff = diff_view("whatif.diff")
                summary = gr.Markdown()
                scores = result_table("whatif.scores", SCORE_HEADERS)
                status = model_status()
        examples(EXAMPLES, [original, edited])
        inputs = [original, edited, model, labels, multi_label]
        outputs = [diff, scores.component, summary, status]
        history, past, back = history_panel()
        remember = (remember_edit, [history, edited, scores.component], [past.component, history])
        run = [(bind(run_what_if, registry), inputs, outputs), remember]
        with gr.Accordion(t("whatif.counterfactuals"), open=True):
            gr.Markdown(t("whatif.counterfactuals_about"))
            with gr.Row():
                max_calls = gr.Slider(20, 1000, value=300, step=10, label=t("whatif.max_calls"))
                find = gr.Button(t("whatif.find"))
            note = gr.Markdown()
            flips = result_table("whatif.flips", FLIP_HEADERS, wrap=True)
    model.change(bind(labels_box_for, registry), model, labels, api_visibility="private")
    step_back_on(back, history, [edited], run)
    then_all(button.click(*run[0], api_name="what_if"), run[1:])
    then_all(edited.submit(*run[0], api_visibility="private"), run[1:])
    find.click(
        bind(run_counterfactuals, registry),
        [original, model, labels, multi_label, max_calls],
        [flips.component, note, status],
        api_name="counterfactuals",
    )
    then_all(flips.component.select(use_flip, None, edited, api_visibility="private"), run)
    receiver = Receiver("whatif_classify", inputs, "whatif", [(views, "whatif-classify")], run)
    return [scores, past, flips, receiver]


def build(registry: Registry) -> list:
    with gr.Tab(t("whatif.tab"), id="whatif", elem_id="tab-whatif"):
        gr.Markdown(t("whatif.intro"))
        with gr.Tabs() as views:
            built = _build_classify(registry, views)
            built += build_qa(registry, views)
    return built
