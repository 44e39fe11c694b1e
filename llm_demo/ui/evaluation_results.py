"""What an evaluation run shows in its tab: the status line, the metric tables and plots, and the downloads, each
built from an EvaluationResult in the reader's language."""

from __future__ import annotations

from pathlib import Path

from ..evaluation import downloads, figures, report
from ..evaluation.results import COMPLETE, EvaluationResult, RunProgress
from .safe_markdown import safe_markdown


def progress_text(step: RunProgress, say) -> str:
    eta = f"{step.eta_seconds:.0f} s" if step.eta_seconds is not None else "…"
    return say(
        "evaluation.progress", model=step.model, done=step.done, total=step.total, rate=step.rows_per_second, eta=eta
    )


def outputs(result: EvaluationResult, say, partial: RunProgress | None = None, page: Path | None = None) -> tuple:
    """Status, metric tables, worst rows, confusion matrix, the downloads (the report page once finished), then
    robustness, slices and swapped identity terms."""
    paths = [*downloads.write_downloads(result), *([page] if page else [])]
    return (
        status(result, say, partial),
        report.summary_frame(result, say),
        report.per_class_frame(result, say),
        report.worst_rows_frame(result, say),
        figures.confusion_figure(result, say),
        [str(p) for p in paths],
        report.robustness_frame(result, say),
        figures.fail_rate_figure(result, say),
        report.flips_frame(result, say),
        report.slices_frame(result, say),
        report.robustness_frame(result, say, kind="bias"),
        report.flips_frame(result, say, kind="bias"),
    )


def status(result: EvaluationResult, say, partial: RunProgress | None) -> str:
    rows = result.table.rows
    if partial is not None:
        lines = [say("evaluation.status_partial", done=partial.done, total=partial.total)]
    else:
        lines = [say("evaluation.status_done", rows=rows, models=len(result.models))]
        lines += [
            say(
                "evaluation.status_incomplete",
                model=m.model,
                status=say(f"evaluation.status.{m.status}"),
                done=m.rows_done,
                total=rows,
                error=m.error or "",
            )
            for m in result.models
            if m.status != COMPLETE or m.error
        ]  # rows a server failed
    if result.rows_skipped:
        lines.append(say("evaluation.status_skipped", rows=result.rows_skipped))
    lines += [
        say(
            "evaluation.status_unknown",
            model=m.model,
            labels=", ".join(f"{k} ({v})" for k, v in sorted(m.unknown_labels.items())),
        )
        for m in result.models
        if m.unknown_labels
    ]
    lines += report.robustness_summary(result, say)
    return safe_markdown("\n\n".join(lines))  # labels and errors from the file and the models


def _headers(keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"evaluation.col.{key}" for key in keys)


SUMMARY_HEADERS = _headers(report.SUMMARY_COLUMNS)
PER_CLASS_HEADERS = _headers(report.PER_CLASS_COLUMNS)
WORST_HEADERS = _headers(report.WORST_COLUMNS)
ROBUSTNESS_HEADERS = _headers(report.ROBUSTNESS_COLUMNS)
FLIPS_HEADERS = _headers(report.FLIPS_COLUMNS)
SLICES_HEADERS = _headers(report.SLICES_COLUMNS)
BIAS_HEADERS = _headers(report.BIAS_COLUMNS)
BIAS_FLIPS_HEADERS = _headers(report.BIAS_FLIPS_COLUMNS)
