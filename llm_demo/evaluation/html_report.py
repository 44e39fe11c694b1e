"""report.html: an evaluation as one file to keep and forward, opened by any browser with no network.

Everything is inline: the CSS, and the confusion matrix and fail-rate chart as base64 PNGs. The page is a function
of the EvaluationResult and the evaluated file's metadata, built from one small function per section (SECTIONS), so
a new section is one function added to that tuple. Tables and charts come from report.py and figures.py, as in
the tab.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .. import __version__
from . import answers_report, figures, report
from .results import EvaluationResult
from .store import write_file

TEXT = {
    "report.title": ("Evaluation report", "评测报告"),
    "report.file": ("File", "文件"),
    "report.rows": ("Rows", "行数"),
    "report.sha256": ("SHA-256 of the file", "文件的 SHA-256"),
    "report.task": ("Task", "任务"),
    "report.columns": ("Columns used", "使用的列"),
    "report.date": ("Date", "日期"),
    "report.version": ("llm_demo version", "llm_demo 版本"),
    "report.summary": ("Metrics per model", "各模型指标"),
    "report.summary_note": (
        "Intervals are 95% bootstrap confidence intervals over the rows. The device column says "
        "where each model ran (device · dtype) or which endpoint answered.",
        "区间为对各行自助抽样得到的 95% 置信区间。“设备”列说明每个模型的运行位置（设备 · 数据类型）或响应的服务端点。",
    ),
    "report.per_class": ("Per class", "各类别指标"),
    "report.confusion": ("Confusion matrix", "混淆矩阵"),
    "report.worst": ("Worst rows", "最差的行"),
    "report.robustness": ("Robustness to perturbed inputs", "对扰动输入的稳健性"),
    "report.flips": ("Rows whose prediction a perturbation changed", "被扰动改变了预测的行"),
    "report.slices": ("Metrics per slice", "各切片的指标"),
    "report.bias": (
        "Counterfactual fairness: identity terms swapped",
        "反事实公平性：互换身份相关的词",
    ),
    "report.bias_changed": ("Rows whose prediction a swap changed", "互换词后预测改变的行"),
    "report.footer": ("Made with llm_demo {version}.", "由 llm_demo {version} 生成。"),
}
FILE_NAME = "report.html"
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans CJK SC", "PingFang SC",
       "Microsoft YaHei", sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: 600; } dd { margin: 0; word-break: break-all; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }
th, td { border: 1px solid #d0d7de; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td { font-variant-numeric: tabular-nums; }
img { max-width: 100%; } .wide { overflow-x: auto; } .note, footer { color: #59636e; font-size: .85rem; }
"""
Say = Callable[..., str]
Section = Callable[[EvaluationResult, "FileInfo", Say], str]


@dataclass(frozen=True)
class FileInfo:
    """What identifies the evaluated file: its name, how many rows were read, and its SHA-256."""

    name: str
    rows: int
    sha256: str

    @classmethod
    def of(cls, path: str | Path, result: EvaluationResult) -> FileInfo:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        return cls(result.table.source_name, result.table.rows, digest)


def english(key: str, **params: object) -> str:
    return TEXT[key][0].format(**params) if key in TEXT else answers_report.english(key, **params)


def _table(frame: pd.DataFrame) -> str:
    """A table that scrolls sideways on its own when wider than the page (many metrics, several models)."""
    return f'<div class="wide">{frame.to_html(index=False, escape=True, border=0, na_rep="")}</div>'


def header_section(result: EvaluationResult, file: FileInfo, say: Say) -> str:
    columns = ", ".join(f"{role} = {column}" for role, column in result.columns.items() if column)
    facts = [
        ("report.file", file.name),
        ("report.rows", f"{file.rows:,}"),
        ("report.sha256", file.sha256),
        ("report.task", result.task),
        ("report.columns", columns),
        ("report.date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("report.version", __version__),
    ]
    items = "".join(f"<dt>{html.escape(say(key))}</dt><dd>{html.escape(value)}</dd>" for key, value in facts)
    return f"<h1>{html.escape(say('report.title'))}</h1><dl>{items}</dl>"


def summary_section(result: EvaluationResult, file: FileInfo, say: Say) -> str:
    return (
        f"<h2>{html.escape(say('report.summary'))}</h2>{_table(report.summary_frame(result, say))}"
        f'<p class="note">{html.escape(say("report.summary_note"))}</p>'
    )


def per_class_section(result: EvaluationResult, file: FileInfo, say: Say) -> str:
    frame = report.per_class_frame(result, say)
    return "" if frame.empty else f"<h2>{html.escape(say('report.per_class'))}</h2>{_table(frame)}"


def _figure(figure, title: str) -> str:
    """A matplotlib figure as an inline PNG, so the page needs no other file."""
    image = io.BytesIO()
    figure.savefig(image, format="png", dpi=100)
    data = base64.b64encode(image.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'


def confusion_section(result: EvaluationResult, file: FileInfo, say: Say) -> str:
    figure = figures.confusion_figure(result, say)
    if figure is None:
        return ""
    title = say("report.confusion")
    return f"<h2>{html.escape(title)}</h2>{_figure(figure, title)}"


def worst_section(result: EvaluationResult, file: FileInfo, say: Say) -> str:
    frame = report.worst_rows_frame(result, say)
    return "" if frame.empty else f"<h2>{html.escape(say('report.worst'))}</h2>{_table(frame)}"


def robustness_section(result: EvaluationResult, file: FileInfo, say: Say) -> str:
    """The robustness run, when there was one: one sentence per model, the fail-rate chart, the table, flips."""
    frame = report.robustness_frame(result, say)
    if frame.empty:
        return ""
    title = say("report.robustness")
    sentences = "".join(f"<p>{html.escape(line)}</p>" for line in report.robustness_summary(result, say))
    figure = figures.fail_rate_figure(result, say)
    flips = report.flips_frame(result, say)
    return (
        f"<h2>{html.escape(title)}</h2>{sentences}{_figure(figure, title) if figure is not None else ''}"
        f"{_table(frame)}" + ("" if flips.empty else f"<h3>{html.escape(say('report.flips'))}</h3>{_table(flips)}")
    )


def bias_section(result: EvaluationResult, file: FileInfo, say: Say) -> str:
    """Identity terms swapped, when asked for: how often each family changed the prediction, and those rows."""
    frame = report.robustness_frame(result, say, kind="bias")
    if frame.empty:
        return ""
    changed = report.flips_frame(result, say, kind="bias")
    return f"<h2>{html.escape(say('report.bias'))}</h2>{_table(frame)}" + (
        "" if changed.empty else f"<h3>{html.escape(say('report.bias_changed'))}</h3>{_table(changed)}"
    )


def slices_section(result: EvaluationResult, file: FileInfo, say: Say) -> str:
    frame = report.slices_frame(result, say)
    return "" if frame.empty else f"<h2>{html.escape(say('report.slices'))}</h2>{_table(frame)}"


def answers_section(result: EvaluationResult, file: FileInfo, say: Say) -> str:
    """An answers run: the judge's and people's ratings, the win-rate matrix, and the rows worth reading."""
    if result.task != "answers":
        return ""
    reviews = answers_report.reviews_of(result)
    lines = "".join(f"<p>{html.escape(line)}</p>" for line in answers_report.summary_lines(result, say, reviews))
    parts = [lines]
    for key, frame in (
        ("answers.ratings", answers_report.ratings_frame(result, say, reviews)),
        ("answers.win_rates", answers_report.win_rate_frame(result, say)),
    ):
        if not frame.empty:
            parts.append(f"<h3>{html.escape(say(key))}</h3>{_table(frame)}")
    for key, rows in zip(
        ("answers.disagree_models", "answers.disagree_people"), answers_report.disagreement_rows(result, reviews)
    ):
        frame = answers_report.rows_frame(result, rows, say)
        if not frame.empty:
            parts.append(f"<h3>{html.escape(say(key))}</h3>{_table(frame)}")
    return "".join(parts)


SECTIONS: tuple[Section, ...] = (
    header_section,
    summary_section,
    answers_section,
    per_class_section,
    confusion_section,
    worst_section,
    robustness_section,
    bias_section,
    slices_section,
)


def render(result: EvaluationResult, file: FileInfo, say: Say = english, language: str = "en") -> str:
    """The whole page, one self-contained HTML document in the language `say` speaks (`language` its code)."""
    body = "\n".join(section(result, file, say) for section in SECTIONS)
    footer = html.escape(say("report.footer", version=__version__))
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(language)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(say('report.title'))}: {html.escape(file.name)}</title><style>{STYLE}</style>"
        f"</head><body>\n{body}\n<footer>{footer}</footer></body></html>\n"
    )


def write_report(
    result: EvaluationResult, file: FileInfo, folder: str | Path, say: Say = english, language: str = "en"
) -> Path:
    """Write FOLDER/report.html (UTF-8) and return its path."""
    path = Path(folder) / FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, render(result, file, say, language))
    return path
