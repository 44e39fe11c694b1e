"""Sentiment: a fixed-label classifier over one text or many (one per line)."""

from __future__ import annotations

from dataclasses import dataclass

from ..loading import LoadedModel
from .classification import classify
from .inputs import split_lines


@dataclass(frozen=True)
class SentimentRow:
    text: str
    label: str
    score: float


def analyse(loaded: LoadedModel, texts: list[str]) -> list[SentimentRow]:
    """One row per text, in input order, with the model's own label names."""
    return [SentimentRow(text, result.label, result.score) for text, result in zip(texts, classify(loaded, texts))]


def analyse_lines(loaded: LoadedModel, text: str) -> list[SentimentRow]:
    """Each non-blank line is its own text: how people paste a list of reviews."""
    return analyse(loaded, split_lines(text))
