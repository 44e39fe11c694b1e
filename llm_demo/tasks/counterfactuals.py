"""Counterfactuals: small edits of a text that change a classifier's label, each verified by classifying the edited
text again, alone, as the Classification tab would; only real flips are returned.

Two generators, as LIT has them. Ablation (LIT's Ablation Flip) removes the fewest words: every word alone
first, which also ranks the words by how much their removal lowers the predicted label; then pairs of the
highest ranked; then ever longer runs of them in rank order, pruned back to the words the flip needs.
Substitution (HotFlip, Ebrahimi et al. 2018) replaces one word by a vocabulary word the gradient toward another
label proposes; it needs the weights here and a fixed-label model. Words are text.word_spans': spaced words,
and dictionary segments for Chinese. Every text run through the model counts against `max_calls`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ModelError
from ..inputs import check_range
from ..models import Model
from ..models.types import Classification
from ..text import word_spans
from .classification import is_nli, predict
from .what_if import Edit, word_diff

ABLATION, SUBSTITUTION = "ablation", "substitution"
NEEDS_WEIGHTS, ZERO_SHOT = "needs_weights", "zero_shot"  # why substitution was not tried
MAX_FLIPS = 5  # of each kind
PAIRED_WORDS = 8  # pairs are tried among this many of the highest ranked words: 28 texts
SUBSTITUTIONS_PER_WORD = 3
CHECKS = 2 * MAX_FLIPS  # calls kept back to verify what the search found
Predictor = Callable[[list[str]], list[Classification]]


@dataclass(frozen=True)
class Counterfactual:
    kind: str  # ABLATION or SUBSTITUTION
    text: str
    changed: list[str]  # the words removed, or "old → new"
    label: str  # the label the model gives the edited text, and its probability
    score: float
    diff: list[Edit]


@dataclass(frozen=True)
class Counterfactuals:
    original: Classification
    flips: list[Counterfactual]  # ablations (fewest words first), then substitutions
    calls: int  # texts the model classified
    substitution_skipped: str | None  # NEEDS_WEIGHTS or ZERO_SHOT when substitution could not be tried


class CallCounter:
    """The predictor, counting the texts it classifies and refusing to go past the cap."""

    def __init__(self, predictor: Predictor, cap: int) -> None:
        self.predictor, self.cap, self.calls = predictor, cap, 0

    @property
    def left(self) -> int:
        return self.cap - self.calls

    def __call__(self, texts: list[str]) -> list[Classification]:
        texts = texts[: self.left]
        self.calls += len(texts)
        return self.predictor(texts) if texts else []


def without(text: str, words: list[tuple[int, int]], removed: set[int]) -> str:
    """The text with the chosen words taken out, and one space beside each, so no double space is left."""
    cuts = []
    for index in sorted(removed):
        start, end = words[index]
        if start > 0 and text[start - 1] == " " and (end == len(text) or not text[end].isalnum()):
            start -= 1  # "it was great." less "great" reads "it was."
        elif end < len(text) and text[end] == " " and (start == 0 or text[start - 1] in " \n"):
            end += 1  # "I loved it" less "I" reads "loved it"
        cuts.append((start, end))
    kept, covered = [], 0
    for start, end in cuts:
        kept.append(text[covered : max(start, covered)])
        covered = max(covered, end)
    return "".join(kept) + text[covered:]


def _verified(
    predictor: CallCounter, text: str, original: Classification, candidates: list[tuple[str, str, list[str]]]
) -> list[Counterfactual]:
    """The candidates (kind, edited text, changed) whose edited text, classified alone, gets another label."""
    flips = []
    for kind, edited, changed in candidates:
        result = predictor([edited])
        if result and result[0].label != original.label:
            diff = word_diff(text, edited)
            flips.append(Counterfactual(kind, edited, changed, result[0].label, result[0].score, diff))
    return flips


def _held(result: Classification, original: Classification) -> float:
    """How much probability the edited text leaves the original label."""
    return next((score.score for score in result.scores if score.label == original.label), 0.0)


def _flipping(results: list[Classification], original: Classification) -> list[int]:
    """The results whose label changed, the one that left the original label least first."""
    flipped = [index for index, result in enumerate(results) if result.label != original.label]
    return sorted(flipped, key=lambda index: _held(results[index], original))


def _prune(
    predictor: CallCounter, text: str, words: list[tuple[int, int]], chosen: list[int], original: Classification
) -> list[int]:
    """Drop words from a flipping set, the lowest ranked first, while the rest still flips."""
    for index in reversed(list(chosen)):
        fewer = [other for other in chosen if other != index]
        if fewer and predictor.left and _flipping(predictor([without(text, words, set(fewer))]), original):
            chosen = fewer
    return chosen


def ablations(predictor: CallCounter, text: str, original: Classification) -> list[tuple[str, str, list[str]]]:
    """The smallest sets of words whose removal flips the label, as (kind, text, words) candidates."""
    words = word_spans(text)
    if len(words) < 2:  # removing the only word leaves nothing to classify
        return []
    singles = predictor([without(text, words, {index}) for index in range(len(words))])
    ranked = sorted(range(len(singles)), key=lambda index: _held(singles[index], original))  # biggest drop first
    sets = [[index] for index in _flipping(singles, original)]
    if not sets:
        pairs = list(itertools.combinations(sorted(ranked[:PAIRED_WORDS]), 2))
        results = predictor([without(text, words, set(pair)) for pair in pairs])
        sets = [list(pairs[index]) for index in _flipping(results, original)]
    if not sets:
        sets = _greedy(predictor, text, words, ranked, original)
    return [(ABLATION, without(text, words, set(chosen)), [text[slice(*words[i])] for i in chosen]) for chosen in sets]


def _greedy(
    predictor: CallCounter, text: str, words: list[tuple[int, int]], ranked: list[int], original: Classification
) -> list[list[int]]:
    """Remove ever more of the ranked words until the label flips, then prune the set back."""
    for size in range(3, len(ranked)):
        if not predictor.left:
            break
        if _flipping(predictor([without(text, words, set(ranked[:size]))]), original):
            return [sorted(_prune(predictor, text, words, ranked[:size], original))]
    return []


def substitutions(
    model: Model, predictor: CallCounter, text: str, original: Classification
) -> list[tuple[str, str, list[str]]]:
    """Single-word replacements the gradient proposes, kept where the model's label flips."""
    proposed = model.substitutions(text, word_spans(text), SUBSTITUTIONS_PER_WORD)[: predictor.left]
    texts = [substitution.applied(text) for substitution in proposed]
    flipping = _flipping(predictor(texts), original)
    return [
        (SUBSTITUTION, texts[index], [f"{text[proposed[index].start : proposed[index].end]} → {proposed[index].word}"])
        for index in flipping
    ]


def counterfactuals(
    model: Model, text: str, labels: str | list[str] | None = None, multi_label: bool = False, max_calls: int = 300
) -> Counterfactuals:
    """Edits of `text` that flip `model`'s label (labels: for a zero-shot model), at most `max_calls` texts
    classified in all, verifications included."""
    cap = int(check_range("Model calls", max_calls, 20, 2000))

    def classified(texts: list[str]) -> list[Classification]:
        return predict(model, texts, labels, multi_label)

    original = classified([text])[0]
    skipped = ZERO_SHOT if is_nli(model) else None
    budget = cap - CHECKS - 1
    removing = CallCounter(classified, budget if skipped else budget - budget // 3)  # a third kept for substitution
    check = CallCounter(classified, CHECKS)
    flips = _verified(check, text, original, ablations(removing, text, original)[:MAX_FLIPS])
    replacing = CallCounter(classified, budget - removing.calls)
    if not skipped:
        try:
            flips += _verified(check, text, original, substitutions(model, replacing, text, original)[:MAX_FLIPS])
        except ModelError as error:
            if error.key != "cannot_do":
                raise
            skipped = NEEDS_WEIGHTS  # a model on a server gives no gradients
    return Counterfactuals(original, flips, 1 + removing.calls + replacing.calls + check.calls, skipped)
