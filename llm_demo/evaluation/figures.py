"""The evaluation's charts: confusion matrices and the fail rate of each perturbation, as matplotlib figures for
the tab and report.html alike, their words from report.TEXT."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ..plotting import figure_settings
from .report import english
from .results import EvaluationResult


def confusion_figure(result: EvaluationResult, say: Callable[..., str] = english):
    """A confusion-matrix heat map per classification model, side by side; None for other tasks."""
    models = [model for model in result.models if hasattr(model.metrics, "confusion")]
    if not models:
        return None
    import matplotlib
    from matplotlib.figure import Figure
    from sklearn.metrics import ConfusionMatrixDisplay

    size = max(len(model.metrics.labels) for model in models)
    side = min(4 + 0.5 * size, 12)
    with matplotlib.rc_context(figure_settings()):  # Chinese, and labels as written
        figure = Figure(figsize=(side * len(models), side), layout="constrained")
        for axes, model in zip(figure.subplots(1, len(models), squeeze=False)[0], models):
            display = ConfusionMatrixDisplay(
                pd.DataFrame(model.metrics.confusion).to_numpy(), display_labels=model.metrics.labels
            )
            display.plot(ax=axes, colorbar=False, xticks_rotation=45, cmap="Blues")
            axes.set_title(say("evaluation.confusion_title", model=model.model))
            axes.set_xlabel(say("evaluation.confusion_predicted"))
            axes.set_ylabel(say("evaluation.confusion_true"))
    return figure


def fail_rate_figure(result: EvaluationResult, say: Callable[..., str] = english):
    """Horizontal bars of each perturbation's fail rate per model, with their 95% intervals and the
    medium and major thresholds; None without a robustness run."""
    from .robustness import MAJOR, MEDIUM

    measured = [model for model in result.models if any(item.rows for item in model.robustness)]
    if not measured:
        return None
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    names = list(dict.fromkeys(item.perturbation for model in measured for item in model.robustness if item.rows))
    height = 0.8 / len(measured)
    with matplotlib.rc_context(figure_settings()):
        figure = Figure(figsize=(9, 1 + 0.45 * len(names) * len(measured)), layout="constrained")
        axes = figure.subplots()
        for number, model in enumerate(measured):
            found = {item.perturbation: item for item in model.robustness if item.rows}
            rates = np.array([100 * found[name].fail_rate if name in found else np.nan for name in names])
            spans = [found[name].fail_rate_ci if name in found and found[name].fail_rate_ci else None for name in names]
            errors = np.array(
                [[rate - 100 * span[0], 100 * span[1] - rate] if span else [0, 0] for rate, span in zip(rates, spans)]
            ).T
            axes.barh(np.arange(len(names)) + number * height, rates, height, xerr=errors, label=model.model, capsize=3)
        for threshold, severity in ((MEDIUM, "medium"), (MAJOR, "major")):
            axes.axvline(100 * threshold, color="grey", linestyle="--", linewidth=1)
            axes.annotate(
                say(f"evaluation.severity.{severity}"),
                (100 * threshold, 1),
                xycoords=("data", "axes fraction"),
                xytext=(3, -12),
                textcoords="offset points",
                color="grey",
            )
        axes.set_yticks(
            np.arange(len(names)) + height * (len(measured) - 1) / 2,
            [say(f"evaluation.perturbation.{name}") for name in names],
        )
        axes.invert_yaxis()
        axes.set_xlabel(say("evaluation.fail_rate_axis"))
        axes.set_title(say("evaluation.fail_rate_title"))
        if len(measured) > 1:
            axes.legend()
    return figure
