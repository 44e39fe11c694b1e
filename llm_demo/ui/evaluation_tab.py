"""Evaluation tab: upload a labelled file, map its columns, run one or more models over it, and read
the metrics, the worst rows and the confusion matrix; download predictions and metrics."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import gradio as gr

from ..errors import InputError
from ..evaluation import downloads, html_report, report
from ..evaluation.reading import open_table, read_head
from ..evaluation.columns import ROLES, guess_columns
from ..evaluation.robustness import TASK_METRICS
from ..evaluation.recipes import BeyondAccuracy, perturbed_copies, task_named
from ..evaluation.run import Evaluation
from ..evaluation.store import RunFolder
from ..registry import Registry
from ..settings import ASSETS_DIR
from .common import ResultTable, bind, download_folder, result_table, say, showing_loads, user_errors
from .evaluation_results import (FLIPS_HEADERS, PER_CLASS_HEADERS, ROBUSTNESS_HEADERS, SLICES_HEADERS, SUMMARY_HEADERS,
                                 WORST_HEADERS, outputs, progress_text)
from .i18n import language_of, t

TEXT = {
    "evaluation.tab": ("Evaluation", "评测"),
    "evaluation.intro": ("Measure a model on your own labelled data: upload a CSV, TSV or JSON Lines file, check "
                         "the columns, pick one or more models and run.",
                         "用你自己的标注数据评测模型：上传 CSV、TSV 或 JSON Lines 文件，确认各列，选择一个或多个模型并运行。"),
    "evaluation.file": ("Data file (CSV, TSV or JSON Lines, UTF-8)", "数据文件（CSV、TSV 或 JSON Lines，UTF-8 编码）"),
    "evaluation.task": ("Task", "任务"),
    "evaluation.task.classification": ("Classification", "文本分类"),
    "evaluation.task.sentiment": ("Sentiment", "情感分析"),
    "evaluation.task.zero-shot": ("Zero-shot classification (the file's labels)", "零样本分类（使用文件中的标签）"),
    "evaluation.task.qa": ("Question answering", "问答"),
    "evaluation.task.translation": ("Translation", "翻译"),
    "evaluation.task.generation": ("Generation (perplexity)", "文本生成（困惑度）"),
    "evaluation.models": ("Models (several are compared side by side)", "模型（可选多个并排比较）"),
    "evaluation.preview": ("First rows of the file", "文件的前几行"),
    "evaluation.columns": ("Columns", "列"),
    "evaluation.role.text": ("Text column", "文本列"),
    "evaluation.role.label": ("Label column", "标签列"),
    "evaluation.role.question": ("Question column", "问题列"),
    "evaluation.role.context": ("Context column", "上下文列"),
    "evaluation.role.answer": ("Answer column (several answers: a JSON list or separated by |)",
                               "答案列（多个答案：JSON 列表或用 | 分隔）"),
    "evaluation.role.source": ("Source text column", "原文列"),
    "evaluation.role.reference": ("Reference translation column", "参考译文列"),
    "evaluation.run": ("Run evaluation", "开始评测"),
    "evaluation.cancel": ("Cancel (keep finished rows)", "取消（保留已完成的行）"),
    "evaluation.continue": ("Continue the stopped run", "继续已停止的评测"),
    "evaluation.summary": ("Metrics per model", "各模型指标"),
    "evaluation.per_class": ("Per class", "各类别指标"),
    "evaluation.worst": ("Worst rows", "最差的行"),
    "evaluation.confusion": ("Confusion matrix", "混淆矩阵"),
    "evaluation.robustness": ("Robustness: also run every row through 9 perturbations (case, typos, punctuation, "
                              "whitespace, Chinese punctuation width and Simplified/Traditional)",
                              "稳健性：每一行再经过 9 种扰动运行一次（大小写、拼写错误、标点、空格、中文全角/半角标点与简繁转换）"),
    "evaluation.robustness_cost": ("Robustness multiplies the model calls by about **{factor:.1f}**: the first {rows:,} "
                                   "rows of the file get {added:,} perturbed copies (rows a perturbation does not "
                                   "change are not sent again).",
                                   "稳健性测试使模型调用次数增加到约 **{factor:.1f}** 倍：文件前 {rows:,} 行产生 {added:,} "
                                   "个扰动副本（扰动未改变的行不会重复发送）。"),
    "evaluation.slice_column": ("Metrics per value of this column (slices)", "按此列的取值分组计算指标（切片）"),
    "evaluation.propose_slices": ("Also slice by text length, digits and writing system",
                                  "同时按文本长度、是否含数字和书写系统切片"),
    "evaluation.robustness_results": ("Robustness: predictions changed by each perturbation",
                                      "稳健性：各扰动使预测改变的情况"),
    "evaluation.flips": ("Rows whose prediction a perturbation changed", "被扰动改变了预测的行"),
    "evaluation.fail_rates": ("Fail rate per perturbation", "各扰动的失败率"),
    "evaluation.slices": ("Metrics per slice", "各切片的指标"),
    "evaluation.downloads": ("Downloads: predictions CSV, metrics JSON and a report to share (HTML, opens offline)",
                             "下载：预测结果 CSV、指标 JSON 和可分享的报告（HTML，离线可打开）"),
    "evaluation.file_info": ("**{name}**: {columns} columns, {size:.1f} MB. Its first rows are shown below; all "
                             "of it is read when the evaluation runs.",
                             "**{name}**：{columns} 列，{size:.1f} MB。下方显示前几行；开始评测时才读取整个文件。"),
    "evaluation.progress": ("{model}: {done:,} of {total:,} rows · {rate:.1f} rows/s · {eta} left",
                            "{model}：已完成 {done:,} / {total:,} 行 · 每秒 {rate:.1f} 行 · 剩余 {eta}"),
    "evaluation.status_done": ("Finished: {rows:,} rows, {models} model(s).", "已完成：{rows:,} 行，{models} 个模型。"),
    "evaluation.status_partial": ("Partial results so far: {done:,} of {total:,} rows. Cancel to stop here and keep "
                                  "them.", "目前的部分结果：已完成 {done:,} / {total:,} 行。点击取消可在此停止并保留这些结果。"),
    "evaluation.status_incomplete": ("{model}: {status}, {done:,} of {total:,} rows finished. {error} The downloads "
                                     "mark the other rows as not_finished or skipped.",
                                     "{model}：{status}，完成了 {done:,} / {total:,} 行。{error} 下载文件中其余行标记为 "
                                     "not_finished（未完成）或 skipped（已跳过）。"),
    "evaluation.status_skipped": ("{rows:,} rows skipped for an empty cell.", "{rows:,} 行因单元格为空而被跳过。"),
    "evaluation.status_unknown": ("{model} does not know these labels, so their rows are left out of the metrics: "
                                  "{labels}.", "{model} 不认识这些标签，相应的行未计入指标：{labels}。"),
}
TEXT.update(report.TEXT)
TEXT.update(html_report.TEXT)
ERRORS_ZH = {
    "empty_file": "“{name}”是空文件。",
    "undecodable_file": "“{name}”不是 UTF-8 文本（第 {position} 个字节无法读取）。请另存为 UTF-8（如 Excel 的“CSV UTF-8”）后重新上传。",
    "not_a_table": "“{name}”在第 {line} 行附近无法作为表格读取：{reason}。",
    "no_rows": "“{name}”只有表头，没有数据行。",
    "too_many_rows": "“{name}”有 {rows:,} 行；本部署最多评测 {limit:,} 行。请上传部分样本。",
    "ragged_row": "“{name}”第 {line} 行有 {found} 个字段，但表头有 {expected} 个。请检查该行的引号。",
    "missing_column": "请选择{role}列（文件中的列：{columns}）。",
    "unknown_column": "“{name}”中没有“{column}”列（现有列：{columns}）。",
    "nothing_to_evaluate": "“{name}”中没有一行同时包含：{columns}。",
    "unknown_task": "未知任务“{task}”。可选：{tasks}。",
    "no_file": "请先上传数据文件。",
    "no_models": "请至少选择一个模型。",
    "bad_batch_size": "--batch-size 至少为 1。",
    "bad_window": "--window 至少为 1。",
    "nothing_to_resume": "“{folder}”中没有可继续的已停止评测。",
    "resume_mismatch": "“{folder}”中的评测是用不同的{what}开始的；请不加续跑选项重新开始。",
    "nothing_to_continue": "没有用这个文件和这些模型运行后停止的评测可继续；请点击“开始评测”。",
    "no_such_file": "文件“{name}”不存在。",
    "nothing_to_compare": "稳健性和切片需要把预测与参考答案比较；{task} 没有参考答案。",
    "too_many_slices": "“{column}”列的不同取值超过 {limit} 个；请选择取值不超过 {limit} 个的列（如来源、语言或类别）。",
}
TASKS = tuple(ROLES)
ROLE_ORDER = ("text", "label", "question", "context", "answer", "source", "reference")
PREVIEW_ROWS = 8
COST_SAMPLE_ROWS = 1000  # rows the robustness cost is measured on before a run
SNAPSHOT_SECONDS = 2.0  # how often partial results are shown while a run goes on
EXAMPLES_DIR = ASSETS_DIR / "examples"
EXAMPLES = [("sentiment.csv", "sentiment"), ("language.csv", "classification"), ("classification.csv", "zero-shot"),
            ("qa.csv", "qa"), ("translation.tsv", "translation"), ("generation.jsonl", "generation")]


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
        return [gr.Dataframe(visible=False), "", [], gr.update(choices=_slice_choices([]), value=""),
                *_column_updates([], task)]
    table = read_head(path, PREVIEW_ROWS)
    columns = table.columns
    info = _say(request)("evaluation.file_info", name=table.source_name, columns=len(columns),
                         size=Path(path).stat().st_size / 1e6)
    return [gr.Dataframe(table.frame.head(PREVIEW_ROWS), visible=True), info, columns,
            gr.update(choices=_slice_choices(columns), value=""), *_column_updates(columns, task)]


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
def robustness_cost(registry: Registry, path: str | None, task: str, robustness: bool, text: str, label: str,
                    question: str, context: str, answer: str, source: str, reference: str,
                    request: gr.Request) -> str:
    """How many more model calls the robustness run makes, said before it starts: measured on the head of
    the file, so a large file is not read for it."""
    if not (robustness and path and task in TASK_METRICS):
        return ""
    columns = _columns(task, (text, label, question, context, answer, source, reference))
    if not all(columns.values()):
        return ""
    rows, added = perturbed_copies(task, read_head(path, COST_SAMPLE_ROWS), columns)
    return _say(request)("evaluation.robustness_cost", rows=rows, added=added,
                         factor=(rows + added) / rows) if rows else ""


def _evaluation_handler(resume: bool):
    """The Run (resume=False) and Continue (resume=True) handlers: one signature, which Gradio reads."""
    @user_errors
    def handler(registry: Registry, path: str | None, task: str, models: list[str] | str | None, text: str,
                label: str, question: str, context: str, answer: str, source: str, reference: str,
                robustness: bool, slice_column: str | None, propose_slices: bool,
                request: gr.Request, progress=gr.Progress()):
        beyond = BeyondAccuracy(bool(robustness), slice_column or None, bool(propose_slices))
        yield from _evaluate(registry, path, task, models,
                             (text, label, question, context, answer, source, reference), beyond, request, progress,
                             resume)
    return handler


# Run the models batch by batch; partial results are shown every few seconds, so Cancel keeps them.
run_evaluation = _evaluation_handler(resume=False)
# Finish the stopped run of the same file, columns and models: the rows it did are not run again.
continue_evaluation = _evaluation_handler(resume=True)


def _evaluate(registry: Registry, path: str | None, task: str, models: list[str] | str | None, chosen: tuple,
              beyond: BeyondAccuracy, request: gr.Request | None, progress, resume: bool):
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
        raise InputError("nothing_to_continue", "There is no stopped run of this file with these models to continue; "
                         "press Run evaluation.")
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
    page = html_report.write_report(result, html_report.FileInfo.of(path, result), result.folder, say,
                                    language_of(request))
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
                upload = gr.File(label=t("evaluation.file"), file_types=[".csv", ".tsv", ".txt", ".jsonl", ".json"],
                                 type="filepath")
                task = gr.Radio([(t(f"evaluation.task.{name}"), name) for name in TASKS], value="sentiment",
                                label=t("evaluation.task"))
                first = model_choices(registry, "sentiment")
                models = gr.Dropdown(first, value=first[:1], multiselect=True, label=t("evaluation.models"),
                                     allow_custom_value=registry.settings.allow_custom_models)
            with gr.Column():
                info = gr.Markdown()
                columns_state = gr.State([])
                with gr.Group():
                    roles = [gr.Dropdown([], label=t(f"evaluation.role.{role}"), visible=role in ROLES["sentiment"],
                                         allow_custom_value=True) for role in ROLE_ORDER]
        preview = gr.Dataframe(label=t("evaluation.preview"), interactive=False, max_height=260, wrap=True,
                               visible=False)  # shown once a file is uploaded
        with gr.Row():
            with gr.Column():
                robustness = gr.Checkbox(label=t("evaluation.robustness"))
                cost = gr.Markdown()
            with gr.Column():
                slice_column = gr.Dropdown(_slice_choices([]), value="", label=t("evaluation.slice_column"),
                                           allow_custom_value=True)
                propose_slices = gr.Checkbox(label=t("evaluation.propose_slices"))
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
        robust = result_table("evaluation.robustness_results", ROBUSTNESS_HEADERS, elem_id="evaluation-robustness-table")
        fail_plot = gr.Plot(label=t("evaluation.fail_rates"))
        flips = result_table("evaluation.flips", FLIPS_HEADERS, wrap=True)
        slices = result_table("evaluation.slices", SLICES_HEADERS, elem_id="evaluation-slices-table")
        downloads = gr.File(label=t("evaluation.downloads"), file_count="multiple", interactive=False)
        gr.Examples([[str(EXAMPLES_DIR / name), name_task] for name, name_task in EXAMPLES], inputs=[upload, task],
                    label=t("common.examples"), example_labels=[name for name, _ in EXAMPLES])
    upload.change(bind(preview_file, registry), [upload, task], [preview, info, columns_state, slice_column, *roles],
                  api_visibility="private")
    gr.on([robustness.change, upload.change, task.change, *(role.change for role in roles)],
          bind(robustness_cost, registry), [upload, task, robustness, *roles], cost, api_visibility="private")
    task.change(bind(change_task, registry), [task, columns_state], [models, *roles], api_visibility="private")
    models.focus(lambda current: gr.Dropdown(choices=model_choices(registry, current)), task, models,
                 api_visibility="private", queue=False)  # a model fine-tuned meanwhile shows up
    inputs = [upload, task, models, *roles, robustness, slice_column, propose_slices]
    outputs = [status, summary.component, per_class.component, worst.component, plot, downloads, robust.component,
               fail_plot, flips.component, slices.component]
    running = run_button.click(bind(run_evaluation, registry), inputs, outputs,
                               api_name="evaluate", concurrency_limit=1, concurrency_id="evaluation")
    continuing = continue_button.click(bind(continue_evaluation, registry), inputs, outputs,
                                       api_name="evaluate_continue", concurrency_limit=1,
                                       concurrency_id="evaluation")
    cancel_button.click(None, None, None, cancels=[running, continuing], api_visibility="private")
    return [summary, per_class, worst, robust, flips, slices]
