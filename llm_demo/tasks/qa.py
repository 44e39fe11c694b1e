"""Extractive question answering: the best spans of a context that answer a question."""

from __future__ import annotations

from ..errors import InputError
from ..models import Model
from ..models.types import Answer, QASettings, in_input_order

__all__ = ["Answer", "QASettings", "answer"]


def answer(
    model: Model,
    questions: list[str],
    contexts: list[str],
    settings: QASettings = QASettings(),
    budget: int | None = None,
) -> list[list[Answer]]:
    """Top-k answers for each (question, context), in input order (on a server, one generated answer each)."""
    if len(questions) != len(contexts):
        raise InputError("qa_mismatch", "Each question needs a context.")
    return in_input_order(len(questions), model.answer(questions, contexts, settings, budget))
