"""What if? An input and an edited copy through the same model: every label's probability (or the answer) for
both, and the edit as a word diff. LIT's most used view: change the input, see what changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from ..models import Model
from ..models.types import Answer, Classification, QASettings
from ..text import word_spans
from .classification import predict
from .qa import answer

REMOVED, ADDED = "removed", "added"
_BETWEEN_WORDS = re.compile(r"\s+|\S")  # spaces as one piece, punctuation a character at a time


@dataclass(frozen=True)
class Edit:
    """A piece of the word diff: text both versions share (kind None), or text the edit removed or added."""

    text: str
    kind: str | None


def pieces(text: str) -> list[str]:
    """The text cut into words (text.word_spans: Chinese by dictionary segments) and what stands between them."""
    found, covered = [], 0
    for start, end in word_spans(text):
        found += _BETWEEN_WORDS.findall(text[covered:start]) + [text[start:end]]
        covered = end
    return found + _BETWEEN_WORDS.findall(text[covered:])


def word_diff(original: str, edited: str) -> list[Edit]:
    """What the edit removed and added, word by word; the shared pieces join back to both texts."""
    before, after = pieces(original), pieces(edited)
    diff = []
    for operation, start, end, edited_start, edited_end in SequenceMatcher(
        None, before, after, autojunk=False
    ).get_opcodes():
        if operation == "equal":
            diff.append(Edit("".join(before[start:end]), None))
            continue
        if end > start:
            diff.append(Edit("".join(before[start:end]), REMOVED))
        if edited_end > edited_start:
            diff.append(Edit("".join(after[edited_start:edited_end]), ADDED))
    return diff


@dataclass(frozen=True)
class LabelChange:
    label: str
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class WhatIf:
    """A classifier's scores for the original text and for the edited one."""

    original: Classification
    edited: Classification
    diff: list[Edit]

    @property
    def flipped(self) -> bool:
        return self.original.label != self.edited.label

    @property
    def changes(self) -> list[LabelChange]:
        """Every label, in the original's order (its best first), with both probabilities."""
        after = {score.label: score.score for score in self.edited.scores}
        return [LabelChange(score.label, score.score, after[score.label]) for score in self.original.scores]


def what_if(
    model: Model, original: str, edited: str, labels: str | list[str] | None = None, multi_label: bool = False
) -> WhatIf:
    """Both texts classified as the Classification tab would classify each alone (labels: for zero-shot models)."""
    before = predict(model, [original], labels, multi_label)[0]
    after = predict(model, [edited], labels, multi_label)[0]
    return WhatIf(before, after, word_diff(original, edited))


@dataclass(frozen=True)
class AnswerWhatIf:
    """A QA model's best answer before and after an edit of the question, the context or both."""

    before: Answer
    after: Answer
    question_diff: list[Edit]
    context_diff: list[Edit]

    @property
    def changed(self) -> bool:
        return self.before.text != self.after.text


def what_if_answer(
    model: Model,
    question: str,
    context: str,
    edited_question: str,
    edited_context: str,
    settings: QASettings = QASettings(),
) -> AnswerWhatIf:
    """The best answer to each (question, context), each asked as the Question answering tab would ask it."""
    before = answer(model, [question], [context], settings)[0][0]
    after = answer(model, [edited_question], [edited_context], settings)[0][0]
    return AnswerWhatIf(before, after, word_diff(question, edited_question), word_diff(context, edited_context))
