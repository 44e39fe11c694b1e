"""Sentiment: a fixed-label classifier over one text or many (one per line)."""

from __future__ import annotations

from dataclasses import dataclass

from ..inputs import split_lines
from ..models import Model
from .classification import classify


@dataclass(frozen=True)
class SentimentRow:
    text: str
    label: str
    score: float


def analyse(model: Model, texts: list[str]) -> list[SentimentRow]:
    """One row per text, in input order, with the model's own label names."""
    return [SentimentRow(text, result.label, result.score) for text, result in zip(texts, classify(model, texts))]


def analyse_lines(model: Model, text: str) -> list[SentimentRow]:
    """Each non-blank line is its own text: how people paste a list of reviews."""
    return analyse(model, split_lines(text))
