"""Text classification with a fine-tuned head (fixed labels) and zero-shot with the user's own labels."""

from __future__ import annotations

import re

from ..errors import InputError
from ..inputs import check_length
from ..models import Model
from ..models.types import DEFAULT_HYPOTHESIS, Classification, in_input_order
from ..settings import get_settings

__all__ = ["Classification", "classify", "is_nli", "label_names", "parse_labels", "predict", "zero_shot"]


def label_names(model: Model) -> list[str]:
    """Label names in class-id order, as the model states them (models.yaml's `labels` for a server)."""
    return model.labels


def is_nli(model: Model) -> bool:
    """Whether the model can score labels it was never trained on: an NLI model here, or an instruct model on
    a server that models.yaml marks zero_shot."""
    return model.can_zero_shot


def classify(model: Model, texts: list[str], budget: int | None = None) -> list[Classification]:
    """Batched classification with a fixed-label model, results in input order."""
    return in_input_order(len(texts), model.classify(texts, budget))


def parse_labels(text: str | list[str], multi_label: bool) -> list[str]:
    """Candidate labels from "a, b, c" (Chinese commas too); duplicates, a lone single-label choice and more labels
    than $LLM_DEMO_MAX_LABELS are refused (each label is a forward pass per text)."""
    if isinstance(text, str):
        check_length(text, "labels")
    parts = text if isinstance(text, list) else re.split(r"[,，、;；\n]", text or "")
    labels = [str(part).strip() for part in parts if str(part).strip()]
    if not labels:
        raise InputError("no_labels", "Give the candidate labels, separated by commas.")
    limit = get_settings().max_labels
    if len(labels) > limit:
        raise InputError(
            "too_many_labels",
            "{count:,} candidate labels were given; the limit is {limit:,} (LLM_DEMO_MAX_LABELS).",
            count=len(labels),
            limit=limit,
        )
    seen: set[str] = set()
    for label in labels:
        if label.casefold() in seen:
            raise InputError("duplicate_label", "The label '{label}' is given twice.", label=label)
        seen.add(label.casefold())
    if len(labels) == 1 and not multi_label:
        raise InputError("one_label", "Give at least two labels, or turn on multi-label to score one label alone.")
    return labels


def zero_shot(
    model: Model,
    texts: list[str],
    labels: list[str],
    multi_label: bool = False,
    hypothesis: str = DEFAULT_HYPOTHESIS,
    budget: int | None = None,
) -> list[Classification]:
    """Score the user's labels against each text: an NLI model reads each label as the hypothesis "This example
    is {label}." about the text; on a server, an instruct model picks among them."""
    return in_input_order(len(texts), model.zero_shot(texts, labels, multi_label, hypothesis, budget))


def predict(
    model: Model, texts: list[str], labels: str | list[str] | None = None, multi_label: bool = False
) -> list[Classification]:
    """The Classification tab's rule: a zero-shot model scores the given labels, a fixed-label model uses its own
    (and `labels` is ignored)."""
    if is_nli(model):
        return zero_shot(model, texts, parse_labels(labels or "", multi_label), multi_label)
    return classify(model, texts)
