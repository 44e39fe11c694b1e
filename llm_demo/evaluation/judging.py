"""The judge's pass over a window once every model has answered it: each answer graded, each pair of answers
compared (both orders), through the response cache so a verdict already given is not asked for again. What it
keeps is small and row-level (a score per graded answer, an outcome per compared pair), so people's reviews
can be set against it and a stopped run continues with it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import ModelError, UserFacingError
from .blocks import RowBlock
from .judge import (
    Grade,
    GradeItem,
    Judge,
    PairItem,
    PairwiseRating,
    Verdict,
    pairwise_ratings,
    position_bias,
    win_rates,
)
from .response_cache import ResponseCache
from .tallies import Outcome


@dataclass
class Answered:
    """A model's answer to one row, and the judge's grade of it once judged."""

    text: str
    grade: Grade | None = None


@dataclass(frozen=True)
class JudgingResult:
    """What the judge concluded over the rows done so far."""

    judge: str
    mode: str
    ratings: list[PairwiseRating]  # Bradley-Terry on the arena's scale, from the pairwise verdicts
    win_rates: list[list[float | None]]  # models x models: share of comparisons the row's model won, ties half
    position_bias: float | None  # share of verdicts that changed with the answers' positions
    verdicts: int  # pairs compared (both orders)
    unreadable: int  # of which the judge's output could not be read, or the request failed
    grades: dict[tuple[int, str], float]  # (row, model) -> the judge's score, for agreement with people
    pairs: dict[tuple[int, str, str], str]  # (row, model a, model b), a < b -> "a" | "b" | "tie"


class Judging:
    """The judge of one run, and every verdict it has given in it."""

    def __init__(self, judge: Judge, mode: str, cache: ResponseCache, models: list[str]) -> None:
        self.judge, self.mode, self.cache, self.models = judge, mode, cache, models
        self.name = judge.name
        self.grading = mode in ("grade", "both")
        self.pair_indices = list(itertools.combinations(range(len(models)), 2)) if mode != "grade" else []
        self.units_per_row = (len(models) if self.grading else 0) + len(self.pair_indices)
        self.grades: list[list] = []  # [row, model index, score or None]
        self.verdicts: list[list] = []  # [row, model a, model b, outcome or None, first letter, second letter, flipped]

    def steps(self, window: RowBlock, outcomes: list[Outcome]) -> Iterator[int]:
        """Grade and compare the window's answers, yielding how many units of work finished."""
        if self.grading:
            for index, outcome in enumerate(outcomes):
                yield from self._grade(window, index, outcome)
        for a, b in self.pair_indices:
            yield from self._compare(window, a, b, outcomes[a], outcomes[b])

    def _grade(self, window: RowBlock, model: int, outcome: Outcome) -> Iterator[int]:
        rows = _answered(window, outcome)
        items = [GradeItem(*_question(window, i), _answer(outcome, i)) for i in rows]
        keys = [{"judge": self.judge.identity(), **vars(item)} for item in items]
        for indices, values in self.cache.map("grade", keys, _cached(self.judge.grade, items)):
            for index, value in zip(indices, values):
                grade = Grade.from_json(value) if isinstance(value, dict) else _failed(Grade, value)
                row = rows[index]
                outcome.results[row] = Answered(_answer(outcome, row), grade)
                self.grades.append([window.start + window.rows[row], model, grade.score])
            yield len(indices)
        yield len(window.rows) - len(rows)  # rows the model did not answer count as passed

    def _compare(self, window: RowBlock, a: int, b: int, first: Outcome, second: Outcome) -> Iterator[int]:
        rows = sorted(set(_answered(window, first)) & set(_answered(window, second)))
        items = [PairItem(*_question(window, i), _answer(first, i), _answer(second, i)) for i in rows]
        keys = [{"judge": self.judge.identity(), **vars(item)} for item in items]
        for indices, values in self.cache.map("verdict", keys, _cached(self.judge.compare, items)):
            for index, value in zip(indices, values):
                verdict = Verdict.from_json(value) if isinstance(value, dict) else _failed(Verdict, value)
                row = window.start + window.rows[rows[index]]
                self.verdicts.append([row, a, b, verdict.outcome, verdict.first, verdict.second, verdict.flipped])
            yield len(indices)
        yield len(window.rows) - len(rows)

    def state(self) -> dict:
        return {"grades": self.grades, "verdicts": self.verdicts}

    def restore(self, state: dict) -> None:
        self.grades, self.verdicts = state["grades"], state["verdicts"]

    def result(self, bootstrap: int) -> JudgingResult:
        named = [
            (self.models[a], self.models[b], Verdict(outcome, first, second, flipped, "", None))
            for _, a, b, outcome, first, second, flipped in self.verdicts
        ]
        readable = [item for item in named if item[2].outcome is not None]
        return JudgingResult(
            judge=self.name,
            mode=self.mode,
            ratings=pairwise_ratings(readable) if readable else [],
            win_rates=win_rates(self.models, readable),
            position_bias=position_bias([verdict for _, _, verdict in readable]),
            verdicts=len(named),
            unreadable=len(named) - len(readable),
            grades={(row, self.models[m]): score for row, m, score in self.grades if score is not None},
            pairs=dict(
                _sorted_pair(row, self.models[a], self.models[b], outcome)
                for row, a, b, outcome, *_ in self.verdicts
                if outcome is not None
            ),
        )


def _answered(window: RowBlock, outcome: Outcome) -> list[int]:
    """The window's rows (not perturbed copies) the model answered."""
    return sorted(
        i for i, result in outcome.results.items() if i < len(window.rows) and isinstance(result, (str, Answered))
    )


def _answer(outcome: Outcome, index: int) -> str:
    result = outcome.results[index]
    return result.text if isinstance(result, Answered) else result


def _question(window: RowBlock, index: int) -> tuple[str, str | None, str | None]:
    """The prompt, reference and criteria of a window row, as the judge reads them."""
    prompt = window.inputs[index]  # answers.Prompt
    return prompt.text, window.references[index], prompt.criteria or None


def _cached(work: Callable[[list[Any]], Iterator[tuple[list[int], list[Any]]]], items: list[Any]):
    """The judge's work on the items the cache lacks, as JSON to keep; a failed request stays an error, which
    the cache does not keep, so it is asked again next time."""

    def compute(missing: list[int]) -> Iterator[tuple[list[int], list[Any]]]:
        for indices, results in work([items[i] for i in missing]):
            yield (
                indices,
                [
                    ModelError("judge_failed", "{reason}", reason=result.error) if result.error else result.as_json()
                    for result in results
                ],
            )

    return compute


def _failed(kind: type, error: UserFacingError) -> Grade | Verdict:
    """A grade or verdict the judge could not give, with the reason."""
    if kind is Grade:
        return Grade(None, "", False, str(error))
    return Verdict(None, None, None, False, "", str(error))


def _sorted_pair(row: int, a: str, b: str, outcome: str) -> tuple[tuple[int, str, str], str]:
    """A verdict keyed with the two models in name order, as reviews key people's picks."""
    if a <= b:
        return (row, a, b), outcome
    return (row, b, a), {"a": "b", "b": "a"}.get(outcome, outcome)
