"""What the What if? views share: the edit as a word diff, and the visit's edits to step back through."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from ..tasks.what_if import ADDED, REMOVED, Edit
from .carry import Step, then_all
from .common import ResultTable, result_table, say
from .i18n import t

DIFF_MARKS = {REMOVED: "−", ADDED: "+"}  # a diff's own signs, the same in every language (legend included)
DIFF_COLOURS = {"−": "#fca5a5", "+": "#86efac"}
HISTORY_HEADERS = ("whatif.edit_number", "whatif.edit_text", "whatif.result")
SHORT = 80  # characters of an edit shown in the history


def diff_pieces(diff: list[Edit]) -> list[tuple[str, str | None]]:
    """A word diff for gr.HighlightedText: removed text red, marked −, added text green, marked +."""
    return [(edit.text, DIFF_MARKS.get(edit.kind)) for edit in diff]


def diff_view(label_key: str) -> gr.HighlightedText:
    return gr.HighlightedText(
        label=t(label_key), color_map=DIFF_COLOURS, show_legend=True, show_inline_category=False, combine_adjacent=True
    )


def remembered(
    history: list[dict] | None, fields: list[str], result: str, request: gr.Request | None
) -> tuple[pd.DataFrame, list[dict]]:
    """The visit's edits with this one last (running the same edit again does not add a row), as a table and as
    the page keeps them. A step of its own after the view's endpoint, which so keeps no state an API client or
    an agent would have to carry."""
    entry = {"fields": fields, "result": result}
    history = history or []
    history = [*history[:-1], entry] if history and history[-1]["fields"] == fields else [*history, entry]
    return history_table(history, request), history


def history_table(history: list[dict], request: gr.Request | None) -> pd.DataFrame:
    def short(fields: list[str]) -> str:
        text = " · ".join(fields)
        return text if len(text) <= SHORT else f"{text[: SHORT - 1]}…"

    rows = [(number, short(entry["fields"]), entry["result"]) for number, entry in enumerate(history, start=1)]
    return pd.DataFrame(rows, columns=[say(key, request) for key in HISTORY_HEADERS])


def step_back(history: list[dict], count: int) -> list:
    """Forget the latest edit and put the one before it back in the `count` edited fields (which then run)."""
    if len(history) < 2:
        return [history, *[gr.update()] * count]
    return [history[:-1], *history[-2]["fields"]]


def history_panel() -> tuple[gr.State, ResultTable, gr.Button]:
    """The visit's edits (kept in the page, oldest first), their table, and the button that steps back."""
    history = gr.State([])
    with gr.Accordion(t("whatif.history"), open=False):
        table = result_table("whatif.history_table", HISTORY_HEADERS, wrap=True)
        back = gr.Button(t("whatif.back"), size="sm")
    return history, table, back


def step_back_on(back: gr.Button, history: gr.State, fields: list, run: list[Step]) -> None:
    """`back` puts the edit before the latest back in `fields` and runs the view again."""
    count = len(fields)
    then_all(
        back.click(lambda kept: step_back(kept, count), history, [history, *fields], api_visibility="private"), run
    )
