"""Answers tab: upload a file of prompts, let up to six models answer them, score the answers against
references and with a judge model, read the ratings side by side, and review rows by hand (review_panel.py)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import gradio as gr

from ..errors import InputError
from ..evaluation import answers_report, downloads, html_report, report
from ..evaluation.answers import JUDGE_MODES, AnswerOptions
from ..evaluation.columns import ROLES, guess_columns
from ..evaluation.judge import DEFAULT_INSTRUCTIONS, LANGUAGES
from ..evaluation.reading import open_table, read_head
from ..evaluation.results import EvaluationResult
from ..evaluation.run import Evaluation
from ..evaluation.store import RunFolder
from ..registry import Registry
from ..settings import ASSETS_DIR
from . import review_panel
from .answers_text import ERRORS_ZH, TEXT  # noqa: F401 - the tab's strings, read through this module
from .common import (
    ResultTable,
    bind,
    download_folder,
    result_table,
    runs_that_continue,
    say,
    showing_loads,
    user_errors,
)
from .evaluation_results import SUMMARY_HEADERS, progress_text
from .i18n import language_of, t
from .safe_markdown import safe_markdown

ROLE_NAMES = ROLES["answers"]  # prompt, reference, system, criteria
NONE = ""  # the choice "no such column"
PREVIEW_ROWS = 8
SNAPSHOT_SECONDS = 2.0
EXAMPLE = ASSETS_DIR / "examples" / "answers.csv"


def _say(request: gr.Request | None):
    return lambda key, **params: say(key, request, **params)


@user_errors
def preview_file(path: str | None, request: gr.Request) -> list:
    """The head of the upload, and a guess of which column is the prompt, the reference..."""
    if not path:
        return [gr.Dataframe(visible=False), *[gr.update(choices=[], value=None) for _ in ROLE_NAMES]]
    table = read_head(path, PREVIEW_ROWS)
    guess = guess_columns(table.columns, "answers")
    choices = [("—", NONE), *((column, column) for column in table.columns)]
    return [
        gr.Dataframe(table.frame.head(PREVIEW_ROWS), visible=True),
        *[gr.update(choices=choices, value=guess.get(role) or NONE) for role in ROLE_NAMES],
    ]


def default_instructions(language: str, current: str) -> str:
    """The judge's default instructions in the chosen language, unless the user has written their own."""
    defaults = set(DEFAULT_INSTRUCTIONS.values())
    return DEFAULT_INSTRUCTIONS[language] if not current.strip() or current in defaults else current


def _options(judge, mode, language, instructions, max_new_tokens, temperature, seed, use_cache) -> AnswerOptions:
    written = (instructions or "").strip()
    return AnswerOptions(
        max_new_tokens=int(max_new_tokens),
        temperature=float(temperature),
        seed=int(seed or 0),
        judge=(judge or "").strip() or None,
        judge_mode=mode,
        instructions=None if written in {text.strip() for text in DEFAULT_INSTRUCTIONS.values()} else written,
        language=language,
        cache=bool(use_cache),
    )


def _answers_handler(resume: bool):
    """Run (resume=False) and Continue (resume=True): one signature, which Gradio reads."""

    @user_errors
    def handler(
        registry: Registry,
        path: str | None,
        models: list[str] | str | None,
        prompt: str,
        reference: str,
        system: str,
        criteria: str,
        judge: str | None,
        mode: str,
        language: str,
        instructions: str,
        max_new_tokens: float,
        temperature: float,
        seed: float,
        use_cache: bool,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008 - Gradio's way: it fills a Progress default in per event
    ):
        options = _options(judge, mode, language, instructions, max_new_tokens, temperature, seed, use_cache)
        columns = dict(zip(ROLE_NAMES, (prompt, reference, system, criteria)))
        yield from _run(registry, path, models, columns, options, request, progress, resume)

    return handler


run_answers = _answers_handler(resume=False)
continue_answers = _answers_handler(resume=True)


def _run(registry, path, models, columns, options, request, progress, resume):
    if not path:
        raise InputError("no_file", "Upload a data file first.")
    models = [models] if isinstance(models, str) else [m for m in models or [] if m]
    if not models:
        raise InputError("no_models", "Choose at least one model.")
    columns = {role: column or None for role, column in columns.items()}
    say_ = _say(request)
    table = open_table(path, registry.settings.max_eval_rows or None)
    key = json.dumps([table.fingerprint(), columns, models, vars(options)], sort_keys=True)
    folder = download_folder(f"answers-{hashlib.sha256(key.encode()).hexdigest()[:24]}")
    if resume and RunFolder(folder).saved_state() is None:
        raise InputError(
            "nothing_to_continue",
            "There is no stopped run of this file with these models to continue; press Run evaluation.",
        )
    with showing_loads(request, progress):
        run = Evaluation("answers", table, columns, models, folder, registry, resume=resume, answers=options)
    steps, shown = run.steps(), time.monotonic()
    try:
        for step in steps:
            progress((step.done, step.total), desc=progress_text(step, say_))
            if time.monotonic() - shown > SNAPSHOT_SECONDS:
                shown = time.monotonic()
                yield _outputs(run.result(bootstrap=0), say_)
    except GeneratorExit:
        steps.close()
        run.finish()
        downloads.write_downloads(run.result())
        raise
    run.finish()
    result = run.result()
    page = html_report.write_report(
        result, html_report.FileInfo.of(path, result), result.folder, say_, language_of(request)
    )
    yield _outputs(result, say_, page)


def _outputs(result: EvaluationResult, say_, page: Path | None = None) -> tuple:
    """Status, metrics per model, ratings, win rates, the rows worth reading, downloads, and the run for review."""
    reviews = answers_report.reviews_of(result)
    reviewed = answers_report.write_reviews(result)
    paths = [*downloads.write_downloads(result), *([page] if page else []), *([reviewed] if reviewed else [])]
    lines = [say_("answers.status_done", models=len(result.models), rows=result.table.rows)]
    lines += [f"{m.model}: {m.error}" for m in result.models if m.error]
    lines += answers_report.summary_lines(result, say_, reviews)
    spread, differ = answers_report.disagreement_rows(result, reviews)
    return (
        safe_markdown("\n\n".join(lines)),
        report.summary_frame(result, say_),
        _shown(answers_report.ratings_frame(result, say_, reviews)),
        _shown(answers_report.win_rate_frame(result, say_)),
        _shown(answers_report.rows_frame(result, list(dict.fromkeys(differ + spread)), say_)),
        [str(path) for path in paths],
        review_panel.run_of(result),
    )


def _shown(frame) -> dict:
    """A table shown only when it has rows (no judge: no ratings)."""
    return gr.update(value=frame, visible=not frame.empty)


def build(registry: Registry) -> list[ResultTable]:
    generation_models = registry.choices("generation")
    custom = registry.settings.allow_custom_models
    with gr.Tab(t("answers.tab"), id="answers", elem_id="tab-answers"):
        gr.Markdown(t("answers.intro"))
        with gr.Row():
            with gr.Column():
                upload = gr.File(
                    label=t("evaluation.file"), file_types=[".csv", ".tsv", ".txt", ".jsonl", ".json"], type="filepath"
                )
                models = gr.Dropdown(
                    generation_models,
                    value=generation_models[:2],
                    multiselect=True,
                    max_choices=6,
                    label=t("answers.models"),
                    allow_custom_value=custom,
                )
                judge = gr.Dropdown(
                    [("—", ""), *((name, name) for name in generation_models)],
                    value="",
                    label=t("answers.judge"),
                    allow_custom_value=custom,
                )
                mode = gr.Radio(
                    [(t(f"answers.mode.{name}"), name) for name in JUDGE_MODES],
                    value="both",
                    label=t("answers.judge_mode"),
                )
            with gr.Column():
                roles = [
                    gr.Dropdown([], label=t(f"answers.role.{role}"), allow_custom_value=True) for role in ROLE_NAMES
                ]
        preview = gr.Dataframe(
            label=t("evaluation.preview"), interactive=False, max_height=240, wrap=True, visible=False
        )
        with gr.Accordion(t("answers.settings"), open=False):
            with gr.Row():
                max_new_tokens = gr.Slider(1, 1024, value=256, step=1, label=t("answers.max_new_tokens"))
                temperature = gr.Slider(0, 2, value=0, step=0.05, label=t("answers.temperature"))
                seed = gr.Number(0, precision=0, minimum=0, label=t("answers.seed"))
            with gr.Row():
                language = gr.Radio(list(LANGUAGES), value="en", label=t("answers.language"))
                use_cache = gr.Checkbox(value=True, label=t("answers.use_cache"))
            instructions = gr.Textbox(DEFAULT_INSTRUCTIONS["en"], lines=5, label=t("answers.instructions"))
        with gr.Row():
            run_button = gr.Button(t("answers.run"), variant="primary")
            cancel_button = gr.Button(t("answers.cancel"), variant="stop")
            continue_button = gr.Button(t("answers.continue"))
        status = gr.Markdown()
        summary = result_table("answers.summary", SUMMARY_HEADERS)
        with gr.Row():
            ratings = gr.Dataframe(label=t("answers.ratings_table"), interactive=False, visible=False)
            win_rates = gr.Dataframe(label=t("answers.win_rate_table"), interactive=False, visible=False)
        worth_reading = gr.Dataframe(label=t("answers.disagreements"), interactive=False, wrap=True, visible=False)
        files = gr.File(label=t("answers.downloads"), file_count="multiple", interactive=False)
        run_state = review_panel.build()
        gr.Examples([[str(EXAMPLE)]], inputs=[upload], label=t("common.examples"), example_labels=[EXAMPLE.name])
    upload.change(preview_file, [upload], [preview, *roles], api_visibility="private")
    language.change(default_instructions, [language, instructions], instructions, api_visibility="private")
    inputs = [upload, models, *roles, judge, mode, language, instructions, max_new_tokens, temperature, seed, use_cache]
    outputs = [status, summary.component, ratings, win_rates, worth_reading, files, run_state]
    runs_that_continue(
        (run_button, continue_button, cancel_button),
        (bind(run_answers, registry), bind(continue_answers, registry)),
        inputs,
        outputs,
        "evaluate_answers",
    )
    return [summary]
