"""Sequence salience for generation: which parts of a prompt a span of the model's answer came from.

LIT's view: the gradient of the span's log-probability with respect to each earlier token's embedding, dotted
with that embedding (gradient x input). Token scores add up within a group, so the view can show them by token,
word, sentence or paragraph without running the model again. Local models only: a server gives no gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InputError
from ..inputs import clean_text
from ..models import Model
from ..models.types import SequenceSalience, Span
from ..text import Spans, paragraph_spans, sentence_spans, word_spans

GROUPINGS: dict[str, Callable[[str], Spans] | None] = {
    "tokens": None,
    "words": word_spans,
    "sentences": sentence_spans,
    "paragraphs": paragraph_spans,
}

__all__ = ["GROUPINGS", "SequenceSalience", "Shown", "salience", "shown"]


def salience(
    model: Model, prompt: str, answer: str, start: int | None = None, end: int | None = None
) -> SequenceSalience:
    """How much each token before the span `answer[start:end]` (the whole answer when both are None) moved the
    span's log-probability."""
    prompt, cleaned = clean_text(prompt, "prompt"), clean_text(answer, "answer")
    answer = answer[: len(answer) - len(answer.lstrip())] + cleaned  # a reply's first token often starts with a space
    start, end = (0, len(answer)) if start is None and end is None else (int(start or 0), int(end or len(answer)))
    if not 0 <= start < end <= len(answer):
        raise InputError(
            "bad_span",
            "The span must lie within the answer: characters {start} to {end} of {length}.",
            start=start,
            end=end,
            length=len(answer),
        )
    return model.salience(prompt, answer, (start, end))


def _units(result: SequenceSalience, region: tuple[int, int]) -> list[tuple[int, int, float]]:
    """The tokens that start inside `region`, each (start, end, score), with the spaces they begin with left out."""
    units = []
    for (start, end), score in zip(result.offsets, result.scores, strict=True):
        piece = result.text[start:end]
        if piece.strip():
            start += len(piece) - len(piece.lstrip())  # " word" belongs where "word" does
        if region[0] <= start < region[1] and end > start:
            units.append((start, min(end, region[1]), score))
    return units


def _grouped(units: list[tuple[int, int, float]], groups: Spans) -> list[tuple[int, int, float]]:
    """Tokens summed into the group their first character falls in; a token in no group stays on its own, and
    pieces that overlap are merged, so nothing is counted twice or lost."""
    merged: list[tuple[int, int, float]] = []
    for start, end, score in sorted(_in_groups(units, groups)):
        if merged and start < merged[-1][1]:
            last = merged.pop()
            merged.append((last[0], max(last[1], end), last[2] + score))
        else:
            merged.append((start, end, score))
    return merged


def _in_groups(units: list[tuple[int, int, float]], groups: Spans) -> list[tuple[int, int, float]]:
    sums: dict[tuple[int, int], float] = {}
    alone = []
    for start, end, score in units:
        group = next((group for group in groups if group[0] <= start < group[1]), None)
        if group is None:
            alone.append((start, end, score))
        else:
            sums[group] = sums.get(group, 0.0) + score
    return alone + [(start, end, score) for (start, end), score in sums.items()]


def _pieces(text: str, region: tuple[int, int], scored: list[tuple[int, int, float]]) -> list[Span]:
    """The region's text cut at the scored pieces; the rest unscored. The pieces join back to the region."""
    pieces, covered = [], region[0]
    for start, end, score in scored:
        if start > covered:
            pieces.append(Span(text[covered:start], None))
        pieces.append(Span(text[start:end], score))
        covered = end
    if covered < region[1]:
        pieces.append(Span(text[covered : region[1]], None))
    return pieces


@dataclass(frozen=True)
class Shown:
    """The prompt and the answer before the span, in pieces with their summed scores."""

    prompt: list[Span]
    answer: list[Span]  # the answer up to the span
    template_total: float  # what the chat template's own tokens add, shown nowhere else

    @property
    def total(self) -> float:
        return sum(span.score or 0.0 for span in self.prompt + self.answer) + self.template_total


def shown(result: SequenceSalience, grouping: str) -> Shown:
    """The scores grouped by `grouping` (GROUPINGS), over the prompt and over the answer before the span."""
    if grouping not in GROUPINGS:
        raise InputError("bad_grouping", "Group by one of: {choices}.", choices=", ".join(GROUPINGS))
    regions = [result.prompt, (result.answer_start, result.target[0])]
    split = GROUPINGS[grouping]
    pieces = []
    for start, end in regions:
        groups = [] if split is None else [(start + a, start + b) for a, b in split(result.text[start:end])]
        pieces.append(_pieces(result.text, (start, end), _grouped(_units(result, (start, end)), groups)))
    inside = sum(score for region in regions for _, _, score in _units(result, region))
    return Shown(pieces[0], pieces[1], sum(result.scores) - inside)
