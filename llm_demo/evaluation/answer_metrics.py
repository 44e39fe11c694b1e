"""What a model's free answers add up to over a run: length, exact match, ROUGE-L, chrF and BLEU against the
references where there are some, and a judge's grades. Kept as a tally (counts, sums, a float or two per row)
that is saved after each window, so a run stopped and continued ends with the metrics of one run.

rouge-score is imported on first use: it brings nltk, which takes seconds to import.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from array import array
from dataclasses import dataclass

import numpy as np

from ..text import CJK
from . import metrics as scoring

_BOOTSTRAP_DRAWS = 1 << 22  # row indices drawn at once (32 MiB), whatever the number of rows
# rouge-score's default tokens (ASCII letters and digits of the lower-cased text), plus each Chinese, Japanese
# or Korean character as a token of its own: the default drops them, so every such answer would score 0.
_ROUGE_TOKEN = re.compile(f"{CJK.pattern}|[a-z0-9]+")


@dataclass(frozen=True)
class AnswerMetrics:
    """The keys of metrics.json; None where a metric does not apply (no references, no grades, no bootstrap)."""

    rows: int  # answers counted
    mean_length: float  # in characters (Unicode code points), so a Chinese answer is not counted in bytes
    exact_match: float | None  # share of referenced answers equal to the reference after `normalised`, 0..1
    exact_match_ci: tuple[float, float] | None
    rouge_l: float | None  # mean ROUGE-L F-measure over referenced rows, 0..1
    rouge_l_ci: tuple[float, float] | None  # 95% bootstrap interval of the mean
    chrf: float | None  # corpus chrF (sacrebleu), 0..100
    bleu: float | None  # corpus BLEU (sacrebleu; Chinese and Japanese by character), 0..100
    references: int  # rows that had a reference
    judge_score: float | None  # mean judge grade (1..10) over the rows whose grade could be read
    judge_score_ci: tuple[float, float] | None
    unscored: int  # rows the judge graded but whose grade could not be read


class _RougeTokens:
    """The tokenizer rouge-score is given: its default one (no stemming) that also keeps CJK characters."""

    def tokenize(self, text: str) -> list[str]:
        return _ROUGE_TOKEN.findall(text.lower())


@functools.cache
def _rouge_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_RougeTokens())


def rouge_l(reference: str, answer: str) -> float:
    """One row's ROUGE-L F-measure, 0..1."""
    return _rouge_scorer().score(reference, answer)["rougeL"].fmeasure


# SQuAD's rules suit Chinese, Japanese and Korean too: they drop CJK punctuation and keep the characters.
normalised = scoring.normalize_answer


class AnswerTally:
    """Counts and sums of the answers so far, and one ROUGE-L and one grade per row for the bootstrap."""

    def __init__(self) -> None:
        self.rows, self.characters, self.hits, self.unscored = 0, 0, 0, 0
        self.rouge = array("d")  # one per row with a reference
        self.grades = array("d")  # one per readable grade
        self.statistics = scoring.TranslationStatistics()  # sacrebleu's sums for corpus chrF and BLEU

    def add(self, references: list[str | None], answers: list[str]) -> list[float | None]:
        """Count answers in; returns each row's ROUGE-L (None where that row has no reference; a blank one is none)."""
        self.rows += len(answers)
        self.characters += sum(len(answer) for answer in answers)
        rows = list(zip(references, answers, strict=True))
        scores = [rouge_l(reference, answer) if _present(reference) else None for reference, answer in rows]
        pairs = [(reference, answer) for (reference, answer), score in zip(rows, scores) if score is not None]
        if pairs:
            self.hits += sum(normalised(answer) == normalised(reference) for reference, answer in pairs)
            self.statistics.add([reference for reference, _ in pairs], [answer for _, answer in pairs])
            self.rouge.extend(score for score in scores if score is not None)
        return scores

    def add_grades(self, scores: list[float | None]) -> None:
        """Judge grades of answers already added: None = unreadable (counted in `unscored`)."""
        self.grades.extend(score for score in scores if score is not None)
        self.unscored += sum(score is None for score in scores)

    def metrics(self, bootstrap: int = 1000, seed: int = 0) -> AnswerMetrics | None:
        """None with no rows; intervals are None with bootstrap=0 and below two rows (see `mean_interval`)."""
        if not self.rows:
            return None
        references = len(self.rouge)
        corpus = self.statistics.metrics() if references else None
        return AnswerMetrics(
            rows=self.rows,
            mean_length=self.characters / self.rows,
            exact_match=self.hits / references if references else None,
            exact_match_ci=(
                scoring.bootstrap_share_interval(self.hits, references, bootstrap, seed) if references > 1 else None
            ),
            rouge_l=_mean(self.rouge),
            rouge_l_ci=mean_interval(self.rouge, bootstrap, seed),
            chrf=corpus.chrf if corpus else None,
            bleu=corpus.bleu if corpus else None,
            references=references,
            judge_score=_mean(self.grades),
            judge_score_ci=mean_interval(self.grades, bootstrap, seed),
            unscored=self.unscored,
        )

    def state(self) -> dict:
        return {
            "rows": self.rows,
            "characters": self.characters,
            "hits": self.hits,
            "unscored": self.unscored,
            "rouge": self.rouge.tolist(),
            "grades": self.grades.tolist(),
            "statistics": dataclasses.asdict(self.statistics),
        }

    def restore(self, state: dict) -> None:
        self.rows, self.characters, self.hits = state["rows"], state["characters"], state["hits"]
        self.unscored = state["unscored"]
        self.rouge, self.grades = array("d", state["rouge"]), array("d", state["grades"])
        self.statistics = scoring.TranslationStatistics(**state["statistics"])


def _present(reference: str | None) -> bool:
    return reference is not None and bool(reference.strip())


def _mean(values: array) -> float | None:
    return math.fsum(values) / len(values) if values else None


def mean_interval(values: array, samples: int, seed: int = 0) -> tuple[float, float] | None:
    """95% percentile interval of the mean over `samples` resamples of the rows. None below two rows: every
    resample of one row is that row, and an interval of zero width would claim a certainty one row cannot give."""
    if samples <= 0 or len(values) < 2:
        return None
    data = np.asarray(values)
    rng = np.random.default_rng(seed)
    block = max(1, _BOOTSTRAP_DRAWS // len(data))  # resamples drawn at once, so memory stays flat
    means = [
        data[rng.integers(len(data), size=(min(block, samples - done), len(data)))].mean(axis=1)
        for done in range(0, samples, block)
    ]
    return scoring._percentile_interval(np.concatenate(means))
