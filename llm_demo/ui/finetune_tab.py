"""Fine-tuning tab: upload a labelled table, train a classifier while watching its loss, then use or download it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pandas as pd

from ..errors import InputError
from ..evaluation.columns import guess_columns
from ..evaluation.reading import read_table
from ..finetune import (
    EpochResult,
    FinetuneJob,
    FinetuneSettings,
    base_models,
    labelled_rows,
    output_folder,
    push_to_hub,
    resolve_base_model,
    zip_model,
)
from ..models import with_weights_here
from ..models.hub import download
from ..registry import Registry
from .common import ResultTable, bind, download_folder, result_table, say, showing_loads, user_errors
from .i18n import t
from .safe_markdown import safe_markdown

TEXT = {
    "finetune.tab": ("Fine-tuning", "微调"),
    "finetune.intro": (
        "Turn a general pretrained encoder into your own classifier: upload a table of texts and "
        "their labels, pick a base model, and train. The best epoch is saved and can be used in the "
        "Classification, Sentiment and Evaluation tabs.",
        "把通用的预训练编码器变成你自己的分类器：上传带标签的文本表格，选择基础模型，开始训练。"
        "最好的一轮会被保存，可在“文本分类”“情感分析”和“评测”标签页中使用。",
    ),
    "finetune.data": ("Labelled table (CSV, TSV or JSON Lines)", "带标签的表格（CSV、TSV 或 JSON Lines）"),
    "finetune.text_column": ("Text column", "文本列"),
    "finetune.label_column": ("Label column", "标签列"),
    "finetune.name": ("Name of the new model (optional)", "新模型的名称（可选）"),
    "finetune.name_info": (
        "Saved under this name; left empty, the base model's name and the time are used.",
        "以此名称保存；留空则使用基础模型名加时间。",
    ),
    "finetune.base_info": (
        "A listed encoder, a model fine-tuned here (to train it further), a Hub id or a folder.",
        "列出的编码器、在此微调过的模型（继续训练）、Hub 模型 ID 或本地文件夹。",
    ),
    "finetune.epochs": ("Epochs", "训练轮数"),
    "finetune.learning_rate": ("Learning rate", "学习率"),
    "finetune.batch_size": ("Batch size", "批大小"),
    "finetune.max_length": ("Max sequence length (tokens)", "最大序列长度（词元）"),
    "finetune.weight_decay": ("Weight decay", "权重衰减"),
    "finetune.warmup_ratio": ("Warmup ratio", "预热比例"),
    "finetune.validation_fraction": ("Validation fraction (stratified)", "验证集比例（分层抽样）"),
    "finetune.seed": ("Seed", "随机种子"),
    "finetune.patience": ("Early stopping patience (epochs, 0 = off)", "早停耐心（轮数，0 表示关闭）"),
    "finetune.train": ("Train", "开始训练"),
    "finetune.loss_curve": ("Training loss", "训练损失"),
    "finetune.step": ("Step", "步数"),
    "finetune.loss": ("Loss", "损失"),
    "finetune.epochs_table": ("Validation after each epoch", "每轮之后的验证结果"),
    "finetune.col_epoch": ("Epoch", "轮次"),
    "finetune.col_train_loss": ("Training loss", "训练损失"),
    "finetune.col_validation_loss": ("Validation loss", "验证损失"),
    "finetune.col_accuracy": ("Accuracy", "准确率"),
    "finetune.col_macro_f1": ("Macro F1", "宏平均 F1"),
    "finetune.col_seconds": ("Seconds", "秒"),
    "finetune.status": ("Training status", "训练状态"),
    "finetune.download": ("Download the model (zip)", "下载模型（zip）"),
    "finetune.hub": ("Upload to the Hugging Face Hub (optional)", "上传到 Hugging Face Hub（可选）"),
    "finetune.hub_repo": ("Repository (your-name/model-name)", "仓库（用户名/模型名）"),
    "finetune.hub_token": ("Hugging Face token with write access", "有写权限的 Hugging Face 令牌"),
    "finetune.hub_push": ("Upload the last trained model", "上传最近训练的模型"),
    "finetune.summary": ("{rows:,} rows · {count} labels: {labels}", "{rows:,} 行 · {count} 个标签：{labels}"),
    "finetune.skipped": (
        "{skipped:,} rows without a text or a label are left out.",
        "{skipped:,} 行缺少文本或标签，已略过。",
    ),
    "finetune.status_starting": ("Loading {model} and preparing the data…", "正在加载 {model} 并准备数据……"),
    "finetune.status_training": (
        "Training: step {step}, epoch {epoch:.2f} of {epochs}, loss {loss:.4f}",
        "训练中：第 {step} 步，第 {epoch:.2f} / {epochs} 轮，损失 {loss:.4f}",
    ),
    "finetune.kept_newest": (
        "This app keeps only its {limit} newest fine-tuned models: download the zip to keep yours.",
        "本应用只保留最新的 {limit} 个微调模型：请下载 zip 文件保存你的模型。",
    ),
    "finetune.status_saved": (
        "Saved **{name}** from epoch {epoch:g} (accuracy {accuracy:.3f}, macro F1 "
        "{macro_f1:.3f}; {why}), trained on {train:,} rows and validated on {validation:,}. "
        "Pick or type “{choice}” in the Classification, Sentiment and Evaluation tabs.",
        "已保存 **{name}**，来自第 {epoch:g} 轮（准确率 {accuracy:.3f}，宏平均 F1 {macro_f1:.3f}；"
        "{why}），训练 {train:,} 行，验证 {validation:,} 行。"
        "在“文本分类”“情感分析”和“评测”标签页中选择或输入“{choice}”即可使用。",
    ),
    "finetune.why_finished": ("all epochs done", "全部轮次已完成"),
    "finetune.why_early_stopping": ("stopped early: validation stopped improving", "提前停止：验证结果不再提升"),
    "finetune.why_user": ("stopped by you", "由你停止"),
    "finetune.pushed": ("Uploaded to {url}", "已上传到 {url}"),
}
ERRORS_ZH = {
    "no_such_column": "文件中没有“{column}”列。现有的列为：{columns}。",
    "same_columns": "文本和标签必须来自两个不同的列。",
    "one_class": "训练至少需要两个不同的标签；标签列中只有：{found}。",
    "too_few_per_label": "每个标签至少需要 {needed} 行才能划分验证集；以下标签不够：{labels}。",
    "split_too_small": "{rows} 行按验证集比例 {fraction} 划分后，有一侧的行数少于 {labels} 个标签。"
    "请增加数据或调整比例。",
    "output_exists": "“{path}”已存在且不为空，请换一个名称或文件夹。",
    "bad_model_name": "“{name}”不能用作文件夹名；请使用字母、数字、“-”或“_”。",
    "nothing_to_upload": "请先训练一个模型，然后再上传。",
    "hub_details_missing": "上传需要同时提供仓库名称和 Hugging Face 令牌。",
    "hub_push_unreachable": "无法上传：从这里连接不到 Hugging Face Hub。",
    "hub_push_failed": "无法上传到“{repo}”：{reason}",
    "column_not_guessed": "无法判断哪一列是{role}，请指定。",
}
HEADERS = (
    "finetune.col_epoch",
    "finetune.col_train_loss",
    "finetune.col_validation_loss",
    "finetune.col_accuracy",
    "finetune.col_macro_f1",
    "finetune.col_seconds",
)
POLL_SECONDS = 0.5  # how often the loss curve and table refresh while training
FINETUNE_CONCURRENCY = 1  # one training at a time: it takes the whole CPU or GPU


def _file_path(file: str | Path | None) -> Path:
    if not file:
        raise InputError("no_file", "Upload a labelled table first.")
    return Path(file)


@user_errors
def columns_of(file: str | None, request: gr.Request) -> tuple[dict, dict]:
    """Fill both column pickers with the uploaded table's columns, the likely ones chosen."""
    if not file:
        return gr.update(choices=[], value=None), gr.update(choices=[], value=None)
    columns = list(read_table(_file_path(file)).frame.columns)
    guess = guess_columns(columns, "classification")
    return gr.update(choices=columns, value=guess["text"]), gr.update(choices=columns, value=guess["label"])


@user_errors
def describe_data(file: str | None, text_column: str | None, label_column: str | None, request: gr.Request) -> str:
    """How many rows and which labels the mapped columns give, so mistakes show before training."""
    if not file or not text_column or not label_column:
        return ""
    rows = labelled_rows(read_table(_file_path(file)).frame, text_column, label_column)
    counts = rows.label_counts()
    shown = ", ".join(f"{label} ({count})" for label, count in list(counts.items())[:20])
    summary = say(
        "finetune.summary",
        request,
        rows=len(rows.texts),
        count=len(counts),
        labels=shown + (", …" if len(counts) > 20 else ""),
    )
    if rows.skipped:
        summary += "\n\n" + say("finetune.skipped", request, skipped=rows.skipped)
    return safe_markdown(summary)  # the file's labels


def loss_plot(job: FinetuneJob, request: gr.Request | None) -> gr.LinePlot:
    frame = pd.DataFrame({"step": [s.step for s in job.steps], "loss": [s.loss for s in job.steps]})
    return gr.LinePlot(
        frame, x="step", y="loss", x_title=say("finetune.step", request), y_title=say("finetune.loss", request)
    )


def epoch_table(epochs: list[EpochResult], request: gr.Request | None) -> pd.DataFrame:
    rows = [
        (
            e.epoch,
            None if e.train_loss is None else round(e.train_loss, 4),
            round(e.validation_loss, 4),
            round(e.accuracy, 4),
            round(e.macro_f1, 4),
            round(e.seconds, 1),
        )
        for e in epochs
    ]
    return pd.DataFrame(rows, columns=[say(key, request) for key in HEADERS])


def progress_line(job: FinetuneJob, request: gr.Request | None) -> str:
    if not job.steps:
        return safe_markdown(say("finetune.status_starting", request, model=job.entry.name))  # a typed model
    last = job.steps[-1]
    return say(
        "finetune.status_training",
        request,
        step=last.step,
        epoch=last.epoch,
        epochs=job.settings.epochs,
        loss=last.loss,
    )


def saved_line(job: FinetuneJob, request: gr.Request | None, kept: int = 0) -> str:
    """What was saved and how to use it; where only the `kept` newest models stay, a reminder to download."""
    result = job.outcome()
    name = result.output_dir.name
    note = f" {say('finetune.kept_newest', request, limit=kept)}" if kept else ""
    return (
        say(
            "finetune.status_saved",
            request,
            name=name,
            epoch=result.best.epoch,
            accuracy=result.best.accuracy,
            macro_f1=result.best.macro_f1,
            why=say(f"finetune.why_{result.stopped_by}", request),
            train=result.train_rows,
            validation=result.validation_rows,
            choice=f"{name} (fine-tuned)",
        )
        + note
    )


@user_errors
def run_finetune(
    registry: Registry,
    file: str | None,
    text_column: str | None,
    label_column: str | None,
    model: str,
    name: str,
    epochs: float,
    learning_rate: float,
    batch_size: float,
    max_length: float,
    weight_decay: float,
    warmup_ratio: float,
    validation_fraction: float,
    seed: float,
    patience: float,
    request: gr.Request,
) -> Iterator[tuple]:
    """Train in the background, refreshing the loss curve and epoch table until the best model is saved."""
    rows = labelled_rows(read_table(_file_path(file)).frame, text_column or "", label_column or "")
    settings = FinetuneSettings(
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_length=max_length,
        weight_decay=weight_decay,
        warmup_ratio=warmup_ratio,
        validation_fraction=validation_fraction,
        seed=seed,
        patience=patience,
    )
    entry = resolve_base_model(registry, model)
    with showing_loads(request):  # the training thread loads it; its download shows here first
        download(entry)
    folder = output_folder(registry.settings.finetune_dir, name, entry)
    job = FinetuneJob(entry, rows, folder, settings, keep_models=registry.settings.max_finetuned_models).start()
    try:
        while not job.wait(POLL_SECONDS):
            yield (
                job,
                loss_plot(job, request),
                epoch_table(job.epochs, request),
                progress_line(job, request),
                None,
                gr.update(),
            )
    finally:
        job.stop()  # a closed page or a cancelled request ends the training too, still saving the best epoch
    yield (
        job,
        loss_plot(job, request),
        epoch_table(job.epochs, request),
        saved_line(job, request, registry.settings.max_finetuned_models),
        str(zip_model(job.outcome().output_dir, download_folder())),
        gr.update(choices=_base_choices(registry)),
    )


def stop_training(job: FinetuneJob | None) -> None:
    if job is not None:
        job.stop()


@user_errors
def upload_model(job: FinetuneJob | None, repo_id: str, token: str, request: gr.Request) -> str:
    if job is None or job.result is None:
        raise InputError("nothing_to_upload", "Train a model first; then it can be uploaded.")
    return safe_markdown(say("finetune.pushed", request, url=push_to_hub(job.result.output_dir, repo_id, token)))


def _base_choices(registry: Registry) -> list[str]:
    return [entry.name for entry in base_models(registry)]


def _base_model_picker(registry: Registry) -> gr.Dropdown:
    choices = _base_choices(registry)
    return gr.Dropdown(
        choices=choices,
        value=choices[0] if choices else None,
        label=t("common.model"),
        info=t("finetune.base_info"),
        allow_custom_value=registry.settings.allow_custom_models,
    )


def _hyperparameters(max_epochs: int) -> list[gr.components.Component]:
    defaults = FinetuneSettings()
    with gr.Accordion(t("common.advanced"), open=False):
        with gr.Row():
            epochs = gr.Slider(
                1, max_epochs, value=min(defaults.epochs, max_epochs), step=1, label=t("finetune.epochs")
            )
            learning_rate = gr.Number(defaults.learning_rate, label=t("finetune.learning_rate"), minimum=0, step=1e-5)
        with gr.Row():
            batch_size = gr.Slider(1, 128, value=defaults.batch_size, step=1, label=t("finetune.batch_size"))
            max_length = gr.Slider(16, 512, value=defaults.max_length, step=16, label=t("finetune.max_length"))
        with gr.Row():
            weight_decay = gr.Number(defaults.weight_decay, label=t("finetune.weight_decay"), minimum=0, step=0.01)
            warmup_ratio = gr.Slider(0, 0.5, value=defaults.warmup_ratio, step=0.01, label=t("finetune.warmup_ratio"))
        with gr.Row():
            validation_fraction = gr.Slider(
                0.05, 0.5, value=defaults.validation_fraction, step=0.05, label=t("finetune.validation_fraction")
            )
            seed = gr.Number(defaults.seed, precision=0, minimum=0, label=t("finetune.seed"))
        patience = gr.Slider(0, 10, value=defaults.patience, step=1, label=t("finetune.patience"))
    return [
        epochs,
        learning_rate,
        batch_size,
        max_length,
        weight_decay,
        warmup_ratio,
        validation_fraction,
        seed,
        patience,
    ]


def build(registry: Registry) -> list[ResultTable]:
    registry = with_weights_here(registry)  # training needs the weights here, not behind a server
    with gr.Tab(t("finetune.tab"), id="finetune", elem_id="tab-finetune"):
        gr.Markdown(t("finetune.intro"))
        with gr.Row():
            with gr.Column():
                data = gr.File(label=t("finetune.data"), file_types=[".csv", ".tsv", ".txt", ".jsonl", ".json"])
                with gr.Row():
                    # Custom values let API callers name columns without uploading first; the backend checks them.
                    text_column = gr.Dropdown(choices=[], label=t("finetune.text_column"), allow_custom_value=True)
                    label_column = gr.Dropdown(choices=[], label=t("finetune.label_column"), allow_custom_value=True)
                summary = gr.Markdown()
                model = _base_model_picker(registry)
                name = gr.Textbox(label=t("finetune.name"), info=t("finetune.name_info"))
                hyperparameters = _hyperparameters(registry.settings.max_finetune_epochs)
                with gr.Row():
                    train = gr.Button(t("finetune.train"), variant="primary")
                    stop = gr.Button(t("common.stop"), variant="stop")
            with gr.Column():
                plot = gr.LinePlot(x="step", y="loss", label=t("finetune.loss_curve"))
                table = result_table("finetune.epochs_table", HEADERS)
                status = gr.Markdown(label=t("finetune.status"))
                download = gr.File(label=t("finetune.download"), interactive=False)
                with gr.Accordion(t("finetune.hub"), open=False):
                    repo_id = gr.Textbox(label=t("finetune.hub_repo"))
                    token = gr.Textbox(label=t("finetune.hub_token"), type="password")
                    push = gr.Button(t("finetune.hub_push"))
                    pushed = gr.Markdown()
        job = gr.State(None)
    data.change(columns_of, data, [text_column, label_column], api_visibility="private")
    for trigger in (text_column, label_column):
        trigger.change(describe_data, [data, text_column, label_column], summary, api_visibility="private")
    train.click(
        bind(run_finetune, registry),
        [data, text_column, label_column, model, name, *hyperparameters],
        [job, plot, table.component, status, download, model],
        api_name="finetune",
        concurrency_limit=FINETUNE_CONCURRENCY,
        concurrency_id="finetune",
    )
    stop.click(stop_training, job, None, api_visibility="private")
    push.click(upload_model, [job, repo_id, token], pushed, api_visibility="private")
    return [table]
