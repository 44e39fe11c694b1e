"""What a model's finished rows add up to, as counts and sums rather than rows, so memory does not grow with the
table and a run continued after a stop ends with the metrics of a run never stopped."""

from __future__ import annotations

import heapq
import math
import re
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..tasks.generation import perplexity
from . import metrics as scoring
from .results import COMPLETE, FAILED, NOT_RUN, GenerationMetrics, Predictor, WorstRow
from .robustness import PerturbationTally
from .slices import SliceTally

WORST_ROWS = 10


class Tally:
    """The part of the metrics each row adds, as counts and sums: a few numbers per class or metric
    whatever the number of rows, saved whole in the state so a continued run ends where one run would."""

    def add(self, references: list[Any], predictions: list[str], results: list[Any]) -> list[float | None]:
        """Count these rows in (in table order); returns their per-row scores."""
        raise NotImplementedError

    def badness(self, reference: Any, prediction: str, score: float | None) -> float | None:
        """How bad a row is, for the worst rows (higher is worse); None when it is not a bad row at all."""
        raise NotImplementedError

    def wrong(self, reference: Any, prediction: str) -> bool | None:
        """Whether a prediction is wrong outright (for confident mistakes); None where the task has no such
        notion (a translation is more or less good)."""
        return None

    def metrics(self, bootstrap: int) -> Any:
        raise NotImplementedError

    def unknown_labels(self) -> dict[str, int]:
        return {}

    def state(self) -> dict:
        return dict(vars(self))

    def restore(self, state: dict) -> None:
        vars(self).update(state)


class ClassificationTally(Tally):
    """How many rows have each (reference as written, prediction) pair; references are matched to the
    model's labels at the end, when every prediction is known."""

    def __init__(self, labels: list[str] | None) -> None:
        self.labels = labels
        self.pairs: Counter[tuple[str, str]] = Counter()

    def add(self, references, predictions, results):
        self.pairs.update(zip((reference.strip() for reference in references), predictions))
        return [result.score for result in results]

    def badness(self, reference, prediction, score):
        return (score or 0.0) if self.wrong(reference, prediction) else None

    def wrong(self, reference, prediction):
        gold = match_label(reference, self.labels) if self.labels else reference.strip()
        return gold is not None and gold.casefold() != prediction.casefold()

    def _matched(self) -> tuple[list[str], dict[str, str | None]]:
        names = self.labels or sorted({prediction for _, prediction in self.pairs})
        return names, {reference: match_label(reference, names) for reference, _ in self.pairs}

    def metrics(self, bootstrap):
        names, matched = self._matched()
        counts = Counter()
        for (reference, prediction), count in self.pairs.items():
            if matched[reference] is not None:
                counts[matched[reference], prediction] += count
        if not counts:
            return None
        present = {label for pair in counts for label in pair}
        return scoring.metrics_from_counts(counts, [label for label in names if label in present], bootstrap)

    def unknown_labels(self):
        _, matched = self._matched()
        unknown = Counter()
        for (reference, _), count in self.pairs.items():
            if matched[reference] is None:
                unknown[reference] += count
        return dict(unknown)

    def state(self):
        return {"pairs": [[reference, prediction, count] for (reference, prediction), count in self.pairs.items()]}

    def restore(self, state):
        self.pairs = Counter({(reference, prediction): count for reference, prediction, count in state["pairs"]})


class QATally(Tally):
    def __init__(self) -> None:
        self.rows, self.exact_match, self.f1 = 0, 0.0, 0.0

    def add(self, references, predictions, results):
        per_row = [scoring.qa_score(prediction, answers) for prediction, answers in zip(predictions, references)]
        self.rows += len(per_row)
        self.exact_match += math.fsum(row.exact_match for row in per_row)
        self.f1 += math.fsum(row.f1 for row in per_row)
        return [row.f1 for row in per_row]

    def badness(self, reference, prediction, score):
        return 1 - score if score < 1 else None

    def wrong(self, reference, prediction):
        return scoring.qa_score(prediction, reference).exact_match == 0

    def metrics(self, bootstrap):
        return scoring.QAMetrics(self.exact_match / self.rows, self.f1 / self.rows) if self.rows else None


class TranslationTally(Tally):
    def __init__(self) -> None:
        self.statistics = scoring.TranslationStatistics()

    def add(self, references, predictions, results):
        return self.statistics.add(references, predictions)

    def badness(self, reference, prediction, score):
        return -score

    def metrics(self, bootstrap):
        return self.statistics.metrics() if self.statistics.sums else None

    def state(self):
        return vars(self.statistics)

    def restore(self, state):
        self.statistics = scoring.TranslationStatistics(**state)


class GenerationTally(Tally):
    def __init__(self) -> None:
        self.log_likelihood, self.tokens = 0.0, 0

    def add(self, references, predictions, results):
        for result in results:
            self.log_likelihood += result.total
            self.tokens += len(result.logprobs)
        return [row_perplexity(result) for result in results]

    def badness(self, reference, prediction, score):
        return score

    def metrics(self, bootstrap):
        return GenerationMetrics(math.exp(-self.log_likelihood / self.tokens), self.tokens) if self.tokens else None


class WorstRows:
    """The `size` worst rows seen so far, in a heap: memory bounded however many rows go by. Ties go to
    the earlier row."""

    def __init__(self, size: int = WORST_ROWS) -> None:
        self.size = size
        self.heap: list[tuple[float, int, WorstRow]] = []  # (badness, -row, the row): the least bad on top

    def offer(self, badness: float | None, row: int, describe: Callable[[], WorstRow]) -> None:
        """Keep the row if it is among the worst; `describe` builds its shown cells only then."""
        if badness is None:
            return
        key = (badness, -row)
        if len(self.heap) < self.size:
            heapq.heappush(self.heap, (*key, describe()))
        elif key > self.heap[0][:2]:
            heapq.heapreplace(self.heap, (*key, describe()))

    def rows(self) -> list[WorstRow]:
        return [entry[2] for entry in sorted(self.heap, key=lambda entry: entry[:2], reverse=True)]

    def state(self) -> list:
        return [[badness, -minus_row, vars(row)] for badness, minus_row, row in self.heap]

    def restore(self, state: list) -> None:
        self.heap = [(badness, -row, WorstRow(**cells)) for badness, row, cells in state]
        heapq.heapify(self.heap)


def match_label(reference: str, labels: list[str]) -> str | None:
    """The model's label a reference means: same name ignoring case, or a class id; None if unknown."""
    key = reference.strip().casefold()
    by_name = {label.casefold(): label for label in labels}
    if key in by_name:
        return by_name[key]
    if re.fullmatch(r"\d+", key) and int(key) < len(labels):
        return labels[int(key)]
    return None


def row_perplexity(result) -> float | None:
    """Perplexity of one text; None for a one-token text, which has nothing to predict."""
    return perplexity([result]) if result.logprobs else None


@dataclass
class Outcome:
    """What calling one model has produced so far: the tally of the saved windows, and the results of the
    window under way."""

    predictor: Predictor
    tally: Tally
    worst: WorstRows = field(default_factory=WorstRows)
    perturbations: list[PerturbationTally] = field(default_factory=list)
    slices: SliceTally | None = None
    status: str = NOT_RUN
    error: str | None = None
    rows_done: int = 0
    rows_before: int = 0  # done by the earlier processes of a continued run, which timing leaves out
    rows_failed: int = 0
    failure: str | None = None  # why the first failed row failed
    results: dict[int, Any] = field(default_factory=dict)  # input of the current window -> model result
    batch_seconds: array = field(default_factory=lambda: array("d"))
    seconds: float = 0.0

    def state(self) -> dict:
        return {
            "status": self.status,
            "error": self.error,
            "rows_done": self.rows_done,
            "rows_failed": self.rows_failed,
            "failure": self.failure,
            "tally": self.tally.state(),
            "worst": self.worst.state(),
            "perturbations": [tally.state() for tally in self.perturbations],
            "slices": self.slices.state() if self.slices else None,
        }

    def restore(self, state: dict) -> None:
        self.status = state["status"] if state["status"] in (FAILED, COMPLETE) else NOT_RUN
        self.error, self.rows_done = state["error"], state["rows_done"]
        self.rows_failed, self.failure = state.get("rows_failed", 0), state.get("failure")
        self.rows_before = self.rows_done
        self.tally.restore(state["tally"])
        self.worst.restore(state["worst"])
        for tally, saved in zip(self.perturbations, state["perturbations"]):
            tally.restore(saved)
        if self.slices:
            self.slices.restore(state["slices"])
