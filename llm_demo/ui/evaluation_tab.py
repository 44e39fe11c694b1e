"""Evaluation tab: upload a labelled file, map its columns, run one or more models over it, and read
the metrics, the worst rows and the confusion matrix; download predictions and metrics."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import gradio as gr

from ..errors import InputError
from ..evaluation import downloads, html_report
from ..evaluation.columns import ROLES, guess_columns
from ..evaluation.reading import open_table, read_head
from ..evaluation.recipes import BeyondAccuracy, perturbed_copies, task_named
from ..evaluation.robustness import TASK_METRICS
from ..evaluation.run import Evaluation
from ..evaluation.store import RunFolder
from ..evaluation.swaps import FAMILIES, swap_name
from ..registry import Registry
from ..settings import ASSETS_DIR
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
from .evaluation_results import (
    BIAS_FLIPS_HEADERS,
    BIAS_HEADERS,
    FLIPS_HEADERS,
    PER_CLASS_HEADERS,
    ROBUSTNESS_HEADERS,
    SLICES_HEADERS,
    SUMMARY_HEADERS,
    WORST_HEADERS,
    outputs,
    progress_text,
)
from .evaluation_text import ERRORS_ZH, TEXT  # noqa: F401 - the tab's strings, read through this module
from .evaluation_whatif import what_if_from_tables
from .i18n import language_of, t
from .safe_markdown import safe_markdown

TASKS = tuple(task for task in ROLES if task != "answers")  # answers has its own tab (answers_tab.py)
ROLE_ORDER = ("text", "label", "question", "context", "answer", "source", "reference")
PREVIEW_ROWS = 8
COST_SAMPLE_ROWS = 1000  # rows the robustness cost is measured on before a run
SNAPSHOT_SECONDS = 2.0  # how often partial results are shown while a run goes on
EXAMPLES_DIR = ASSETS_DIR / "examples"
EXAMPLES = [
    ("sentiment.csv", "sentiment"),
    ("language.csv", "classification"),
    ("classification.csv", "zero-shot"),
    ("qa.csv", "qa"),
    ("translation.tsv", "translation"),
    ("generation.jsonl", "generation"),
]


def _say(request: gr.Request | None):
    """The report's `say(key, **params)`, in the reader's language."""
    return lambda key, **params: say(key, request, **params)


def model_choices(registry: Registry, task: str) -> list[str]:
    """The models listed for a task; for classification, zero-shot (NLI) models only under zero-shot."""
    evaluation = task_named(task)
    entries = registry.entries(evaluation.registry_task)
    if evaluation.registry_task == "classification":
        wanted = [e for e in entries if bool(e.option("zero_shot")) == (task == "zero-shot")]
        entries = wanted or entries
    return [entry.name for entry in entries]


def _column_updates(columns: list[str], task: str) -> list[dict]:
    guess = guess_columns(columns, task) if columns else {}
    return [gr.update(choices=columns, value=guess.get(role), visible=role in ROLES[task]) for role in ROLE_ORDER]


@user_errors
def preview_file(registry: Registry, path: str | None, task: str, request: gr.Request) -> list:
    """Read the head of the upload (only read), show its first rows and guess which column is which."""
    if not path:
        return [
            gr.Dataframe(visible=False),
            "",
            [],
            gr.update(choices=_slice_choices([]), value=""),
            *_column_updates([], task),
        ]
    table = read_head(path, PREVIEW_ROWS)
    columns = table.columns
    name, size = table.source_name, Path(path).stat().st_size / 1e6
    info = safe_markdown(_say(request)("evaluation.file_info", name=name, columns=len(columns), size=size))
    return [
        gr.Dataframe(table.frame.head(PREVIEW_ROWS), visible=True),
        info,
        columns,
        gr.update(choices=_slice_choices(columns), value=""),
        *_column_updates(columns, task),
    ]


def _slice_choices(columns: list[str]) -> list[tuple[str, str]]:
    """No slices ("—"), or any column of the file."""
    return [("—", ""), *((column, column) for column in columns)]


def change_task(registry: Registry, task: str, columns: list[str]) -> list:
    choices = model_choices(registry, task)
    return [gr.update(choices=choices, value=choices[:1]), *_column_updates(columns or [], task)]


def _columns(task: str, chosen: tuple) -> dict[str, str | None]:
    """The chosen column of each role the task reads, from the role pickers in ROLE_ORDER."""
    return {role: cell for role, cell in zip(ROLE_ORDER, chosen) if role in ROLES[task]}


@user_errors
def robustness_cost(
    registry: Registry,
    path: str | None,
    task: str,
    robustness: bool,
    text: str,
    label: str,
    question: str,
    context: str,
    answer: str,
    source: str,
    reference: str,
    request: gr.Request,
) -> str:
    """How many more model calls the robustness run makes, said before it starts: measured on the head of
    the file, so a large file is not read for it."""
    if not (robustness and path and task in TASK_METRICS):
        return ""
    columns = _columns(task, (text, label, question, context, answer, source, reference))
    if not all(columns.values()):
        return ""
    rows, added = perturbed_copies(task, read_head(path, COST_SAMPLE_ROWS), columns)
    return (
        _say(request)("evaluation.robustness_cost", rows=rows, added=added, factor=(rows + added) / rows)
        if rows
        else ""
    )


def _evaluation_handler(resume: bool):
    """The Run (resume=False) and Continue (resume=True) handlers: one signature, which Gradio reads."""

    @user_errors
    def handler(
        registry: Registry,
        path: str | None,
        task: str,
        models: list[str] | str | None,
        text: str,
        label: str,
        question: str,
        context: str,
        answer: str,
        source: str,
        reference: str,
        robustness: bool,
        slice_column: str | None,
        propose_slices: bool,
        swap_terms: list[str] | None,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008 - Gradio's way: it fills a Progress default in per event
    ):
        beyond = BeyondAccuracy(
            bool(robustness), slice_column or None, bool(propose_slices), 0, tuple(swap_terms or ())
        )
        yield from _evaluate(
            registry,
            path,
            task,
            models,
            (text, label, question, context, answer, source, reference),
            beyond,
            request,
            progress,
            resume,
        )

    return handler


# Run the models batch by batch; partial results are shown every few seconds, so Cancel keeps them.
run_evaluation = _evaluation_handler(resume=False)
# Finish the stopped run of the same file, columns and models: the rows it did are not run again.
continue_evaluation = _evaluation_handler(resume=True)


def _evaluate(
    registry: Registry,
    path: str | None,
    task: str,
    models: list[str] | str | None,
    chosen: tuple,
    beyond: BeyondAccuracy,
    request: gr.Request | None,
    progress,
    resume: bool,
):
    if not path:
        raise InputError("no_file", "Upload a data file first.")
    models = [models] if isinstance(models, str) else [m for m in models or [] if m]
    if not models:
        raise InputError("no_models", "Choose at least one model.")
    say = _say(request)
    columns = _columns(task, chosen)
    table = open_table(path, registry.settings.max_eval_rows or None)
    folder = _run_folder(table.fingerprint(), task, columns, models, beyond)
    if resume and RunFolder(folder).saved_state() is None:
        raise InputError(
            "nothing_to_continue",
            "There is no stopped run of this file with these models to continue; press Run evaluation.",
        )
    with showing_loads(request, progress):
        run = Evaluation(task, table, columns, models, folder, registry, resume=resume, beyond=beyond)
    steps = run.steps()
    shown = time.monotonic()
    try:
        for step in steps:
            progress((step.done, step.total), desc=progress_text(step, say))
            if time.monotonic() - shown > SNAPSHOT_SECONDS:
                shown = time.monotonic()
                yield outputs(run.result(bootstrap=0), say, partial=step)
    except GeneratorExit:  # Cancel: the downloads list every row, the unfinished ones marked
        steps.close()
        run.finish()
        downloads.write_downloads(run.result())
        raise
    run.finish()
    result = run.result()
    page = html_report.write_report(
        result, html_report.FileInfo.of(path, result), result.folder, say, language_of(request)
    )
    yield outputs(result, say, page=page)


def _run_folder(fingerprint: str, task: str, columns: dict, models: list[str], beyond: BeyondAccuracy) -> Path:
    """One folder per file, task, columns, models and robustness and slice settings, so Continue finds the
    run that stopped."""
    key = hashlib.sha256(json.dumps([fingerprint, task, columns, models, vars(beyond)]).encode()).hexdigest()[:24]
    return download_folder(f"evaluation-{key}")


def build(registry: Registry) -> list[ResultTable]:
    with gr.Tab(t("evaluation.tab"), id="evaluation", elem_id="tab-evaluation"):
        gr.Markdown(t("evaluation.intro"))
        with gr.Row():
            with gr.Column():
                upload = gr.File(
                    label=t("evaluation.file"), file_types=[".csv", ".tsv", ".txt", ".jsonl", ".json"], type="filepath"
                )
                task = gr.Radio(
                    [(t(f"evaluation.task.{name}"), name) for name in TASKS],
                    value="sentiment",
                    label=t("evaluation.task"),
                )
                first = model_choices(registry, "sentiment")
                models = gr.Dropdown(
                    first,
                    value=first[:1],
                    multiselect=True,
                    label=t("evaluation.models"),
                    allow_custom_value=registry.settings.allow_custom_models,
                )
            with gr.Column():
                info = gr.Markdown()
                columns_state = gr.State([])
                with gr.Group():
                    roles = [
                        gr.Dropdown(
                            [],
                            label=t(f"evaluation.role.{role}"),
                            visible=role in ROLES["sentiment"],
                            allow_custom_value=True,
                        )
                        for role in ROLE_ORDER
                    ]
        preview = gr.Dataframe(
            label=t("evaluation.preview"), interactive=False, max_height=260, wrap=True, visible=False
        )  # shown once a file is uploaded
        with gr.Row():
            with gr.Column():
                robustness = gr.Checkbox(label=t("evaluation.robustness"))
                cost = gr.Markdown()
            with gr.Column():
                slice_column = gr.Dropdown(
                    _slice_choices([]), value="", label=t("evaluation.slice_column"), allow_custom_value=True
                )
                propose_slices = gr.Checkbox(label=t("evaluation.propose_slices"))
        swap_terms = gr.CheckboxGroup(
            [(t(f"evaluation.perturbation.{swap_name(family)}"), family) for family in FAMILIES],
            label=t("evaluation.swap_terms"),
        )
        with gr.Row():
            run_button = gr.Button(t("evaluation.run"), variant="primary")
            cancel_button = gr.Button(t("evaluation.cancel"), variant="stop")
            continue_button = gr.Button(t("evaluation.continue"))
        status = gr.Markdown()
        summary = result_table("evaluation.summary", SUMMARY_HEADERS)
        with gr.Row():
            per_class = result_table("evaluation.per_class", PER_CLASS_HEADERS)
            plot = gr.Plot(label=t("evaluation.confusion"))
        worst = result_table("evaluation.worst", WORST_HEADERS, wrap=True)
        robust = result_table(
            "evaluation.robustness_results", ROBUSTNESS_HEADERS, elem_id="evaluation-robustness-table"
        )
        fail_plot = gr.Plot(label=t("evaluation.fail_rates"))
        flips = result_table("evaluation.flips", FLIPS_HEADERS, wrap=True)
        what_if = gr.Button(t("evaluation.what_if"), size="sm")
        slices = result_table("evaluation.slices", SLICES_HEADERS, elem_id="evaluation-slices-table")
        bias = result_table("evaluation.bias", BIAS_HEADERS, elem_id="evaluation-bias-table")
        bias_changed = result_table("evaluation.bias_changed", BIAS_FLIPS_HEADERS, wrap=True)
        downloads = gr.File(label=t("evaluation.downloads"), file_count="multiple", interactive=False)
        gr.Examples(
            [[str(EXAMPLES_DIR / name), name_task] for name, name_task in EXAMPLES],
            inputs=[upload, task],
            label=t("common.examples"),
            example_labels=[name for name, _ in EXAMPLES],
        )
    upload.change(
        bind(preview_file, registry),
        [upload, task],
        [preview, info, columns_state, slice_column, *roles],
        api_visibility="private",
    )
    gr.on(
        [robustness.change, upload.change, task.change, *(role.change for role in roles)],
        bind(robustness_cost, registry),
        [upload, task, robustness, *roles],
        cost,
        api_visibility="private",
    )
    task.change(bind(change_task, registry), [task, columns_state], [models, *roles], api_visibility="private")
    models.focus(
        lambda current: gr.Dropdown(choices=model_choices(registry, current)),
        task,
        models,
        api_visibility="private",
        queue=False,
    )  # a model fine-tuned meanwhile shows up
    inputs = [upload, task, models, *roles, robustness, slice_column, propose_slices, swap_terms]
    outputs = [
        status,
        summary.component,
        per_class.component,
        worst.component,
        plot,
        downloads,
        robust.component,
        fail_plot,
        flips.component,
        slices.component,
        bias.component,
        bias_changed.component,
    ]
    runs_that_continue(
        (run_button, continue_button, cancel_button),
        (bind(run_evaluation, registry), bind(continue_evaluation, registry)),
        inputs,
        outputs,
        "evaluate",
    )
    carry = what_if_from_tables(worst.component, flips.component, what_if, [upload, task, roles[0], roles[1]])
    return [summary, per_class, worst, robust, flips, slices, bias, bias_changed, carry]
