"""Scores of predictions against references: scikit-learn for classification, sacrebleu for translation,
the SQuAD rules for question answering, token-weighted perplexity for generation.

scikit-learn and sacrebleu are imported inside the functions: the command line starts faster without them.
"""

from __future__ import annotations

import collections
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

CI_LEVEL = 0.95
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_CJK = re.compile(r"([\u3400-\u9fff\uf900-\ufaff])")


@dataclass(frozen=True)
class ClassMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ClassificationMetrics:
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_precision: float
    weighted_recall: float
    weighted_f1: float
    per_class: list[ClassMetrics]
    labels: list[str]
    confusion: list[list[int]]  # rows: reference label, columns: predicted label, in `labels` order
    accuracy_ci: tuple[float, float] | None  # 95% bootstrap interval; None without bootstrap
    macro_f1_ci: tuple[float, float] | None


def classification_metrics(references: list[str], predictions: list[str], labels: list[str] | None = None,
                           bootstrap: int = 1000, seed: int = 0) -> ClassificationMetrics:
    """Accuracy, precision, recall and F1 (macro, weighted, per class), the confusion matrix and bootstrap CIs.

    `labels` fixes the classes and their order; by default every label seen in either list, sorted.
    Undefined ratios (a class never predicted) count as 0, as scikit-learn's zero_division=0 does.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = list(labels) if labels is not None else sorted(set(references) | set(predictions))

    def averaged(average: str | None):
        return precision_recall_fscore_support(references, predictions, labels=labels, average=average,
                                               zero_division=0)

    precision, recall, f1, support = averaged(None)
    macro, weighted = averaged("macro"), averaged("weighted")
    per_class = [ClassMetrics(label, float(p), float(r), float(f), int(s))
                 for label, p, r, f, s in zip(labels, precision, recall, f1, support)]
    accuracy_ci, macro_f1_ci = _bootstrap_intervals(references, predictions, labels, bootstrap, seed)
    return ClassificationMetrics(
        accuracy=float(accuracy_score(references, predictions)),
        macro_precision=float(macro[0]), macro_recall=float(macro[1]), macro_f1=float(macro[2]),
        weighted_precision=float(weighted[0]), weighted_recall=float(weighted[1]), weighted_f1=float(weighted[2]),
        per_class=per_class, labels=labels,
        confusion=confusion_matrix(references, predictions, labels=labels).tolist(),
        accuracy_ci=accuracy_ci, macro_f1_ci=macro_f1_ci)


def bootstrap_confusions(references: list[str], predictions: list[str], labels: list[str], samples: int,
                         seed: int = 0) -> np.ndarray:
    """Confusion matrices (samples, classes, classes) of `samples` resamples of the rows, with replacement.

    The classes are `labels` followed by any other label seen, so that accuracy counts every row.
    Counting with one bincount per chunk of resamples is what makes 1000 resamples take milliseconds
    where calling scikit-learn 1000 times takes seconds; the tests check both agree.
    """
    classes = list(labels) + sorted((set(references) | set(predictions)) - set(labels))
    index = {label: position for position, label in enumerate(classes)}
    k, n = len(classes), len(references)
    cell_of_row = np.array([index[r] * k + index[p] for r, p in zip(references, predictions)], dtype=np.int64)
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // max(n, 1))  # resamples per bincount, to bound memory
    confusions = []
    for start in range(0, samples, chunk):
        count = min(chunk, samples - start)
        cells = cell_of_row[rng.integers(0, n, size=(count, n))]  # (resamples, rows)
        flat = np.bincount((cells + np.arange(count)[:, None] * k * k).ravel(), minlength=count * k * k)
        confusions.append(flat.reshape(count, k, k))
    return np.concatenate(confusions)


def accuracy_and_macro_f1(confusions: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and macro F1 over the first `classes` classes of each confusion matrix, with scikit-learn's
    definitions (zero_division=0)."""
    true_positive = np.diagonal(confusions, axis1=1, axis2=2).astype(float)
    predicted = confusions.sum(axis=1)
    actual = confusions.sum(axis=2)
    denominator = predicted + actual  # F1 = 2TP / (2TP + FP + FN) = 2TP / (predicted + actual)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    return true_positive.sum(axis=1) / confusions.sum(axis=(1, 2)), f1[:, :classes].mean(axis=1)


def _bootstrap_intervals(references: list[str], predictions: list[str], labels: list[str], samples: int,
                         seed: int) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    if samples <= 0 or not references or not labels:
        return None, None
    confusions = bootstrap_confusions(references, predictions, labels, samples, seed)
    accuracy, macro_f1 = accuracy_and_macro_f1(confusions, len(labels))
    return _percentile_interval(accuracy), _percentile_interval(macro_f1)


def bootstrap_mean_interval(values: list[float], samples: int = 1000, seed: int = 0) -> tuple[float, float] | None:
    """95% bootstrap interval of the mean of per-row values (a fail rate, accuracy on a slice); None without rows.

    Resamples are drawn in chunks, so a million rows do not need a (samples, rows) array at once.
    """
    if samples <= 0 or not values:
        return None
    array = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // len(array))
    means = [array[rng.integers(0, len(array), size=(min(chunk, samples - start), len(array)))].mean(axis=1)
             for start in range(0, samples, chunk)]
    return _percentile_interval(np.concatenate(means))


def _percentile_interval(values: np.ndarray) -> tuple[float, float]:
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


# --- question answering: the SQuAD rules --------------------------------------------------------

def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles (a, an, the), single spaces.

    Chinese and Japanese punctuation is removed as well; it is absent from SQuAD's ASCII list.
    """
    text = "".join(ch for ch in text.lower() if not _is_punctuation(ch))
    return " ".join(_ARTICLES.sub(" ", text).split())


def _is_punctuation(ch: str) -> bool:
    return ch in string.punctuation or (ord(ch) >= 0x3000 and unicodedata.category(ch).startswith("P"))


def _answer_tokens(text: str) -> list[str]:
    """Words of a normalised answer; each Chinese character is a word, since Chinese has no spaces."""
    return _CJK.sub(r" \1 ", normalize_answer(text)).split()


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's bag-of-words F1; when either side is empty (no answer), 1 if both are, else 0."""
    predicted, expected = _answer_tokens(prediction), _answer_tokens(gold)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((collections.Counter(predicted) & collections.Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class QAScore:
    exact_match: float
    f1: float


def qa_score(prediction: str, answers: list[str]) -> QAScore:
    """Best match over the accepted answers; no accepted answer means the right answer is "none" (SQuAD2)."""
    golds = [answer for answer in answers if normalize_answer(answer)] or [""]
    return QAScore(max(exact_match(prediction, gold) for gold in golds),
                   max(token_f1(prediction, gold) for gold in golds))


@dataclass(frozen=True)
class QAMetrics:
    exact_match: float  # fraction of questions, 0..1
    f1: float


def qa_metrics(scores: list[QAScore]) -> QAMetrics:
    return QAMetrics(float(np.mean([s.exact_match for s in scores])), float(np.mean([s.f1 for s in scores])))


# --- translation: sacrebleu -----------------------------------------------------------------------

@dataclass(frozen=True)
class TranslationMetrics:
    bleu: float
    chrf: float
    ter: float
    signatures: dict[str, str]  # sacrebleu's record of the exact settings, for reproducible numbers


def _mostly_cjk(texts: list[str]) -> bool:
    characters = "".join(texts)
    return bool(characters) and len(_CJK.findall(characters)) > 0.3 * len(characters.replace(" ", ""))


def _translation_scorers(references: list[str], names: tuple[str, ...] = ("bleu", "chrf", "ter")) -> dict:
    """sacrebleu's scorers; Chinese or Japanese references are tokenised by character, as sacrebleu advises."""
    from sacrebleu.metrics import BLEU, CHRF, TER

    cjk = _mostly_cjk(references)
    makers = {"bleu": lambda: BLEU(tokenize="zh" if cjk else "13a"), "chrf": CHRF, "ter": lambda: TER(asian_support=cjk)}
    return {name: makers[name]() for name in names}


def translation_metrics(references: list[str], hypotheses: list[str]) -> TranslationMetrics:
    """Corpus BLEU, chrF and TER."""
    metrics = _translation_scorers(references)
    scores = {name: metric.corpus_score(hypotheses, [references]).score for name, metric in metrics.items()}
    return TranslationMetrics(**scores, signatures={name: str(m.get_signature()) for name, m in metrics.items()})


def corpus_score(name: str, references: list[str], hypotheses: list[str]) -> float:
    """One corpus metric ("bleu", "chrf" or "ter"), scored as translation_metrics scores it."""
    return _translation_scorers(references, (name,))[name].corpus_score(hypotheses, [references]).score


def sentence_chrf(hypothesis: str, reference: str) -> float:
    """chrF of one row, to find the worst translations."""
    from sacrebleu.metrics import CHRF

    return CHRF().sentence_score(hypothesis, [reference]).score


# --- each task's metrics over plain lists: what slices and perturbed rows are scored with ------------

@dataclass(frozen=True)
class TaskScore:
    """One of a task's metrics, either the mean of a per-row score (so it has a cheap bootstrap interval)
    or a corpus score of all rows at once."""

    name: str  # as in the task's metrics dataclass and metrics.json
    per_row: Callable[[Any, str], float] | None = None  # (reference, prediction) -> score of that row
    corpus: Callable[[list, list[str]], float] | None = None  # (references, predictions) -> score

    def __call__(self, references: list, predictions: list[str]) -> float:
        if self.per_row is not None:
            return float(np.mean([self.per_row(r, p) for r, p in zip(references, predictions)]))
        return self.corpus(references, predictions)


def _macro_f1(references: list[str], predictions: list[str]) -> float:
    """scikit-learn's macro F1 over the labels present in these rows."""
    from sklearn.metrics import f1_score

    return float(f1_score(references, predictions, average="macro", zero_division=0))


_CLASSIFICATION = (TaskScore("accuracy", per_row=lambda reference, prediction: float(reference == prediction)),
                   TaskScore("macro_f1", corpus=_macro_f1))
# The headline metric of each task first: a perturbation reports its drop.
TASK_SCORES: dict[str, tuple[TaskScore, ...]] = {
    "classification": _CLASSIFICATION, "sentiment": _CLASSIFICATION, "zero-shot": _CLASSIFICATION,
    "qa": (TaskScore("f1", per_row=lambda answers, prediction: qa_score(prediction, answers).f1),
           TaskScore("exact_match", per_row=lambda answers, prediction: qa_score(prediction, answers).exact_match)),
    "translation": (TaskScore("chrf", corpus=lambda refs, hyps: corpus_score("chrf", refs, hyps)),
                    TaskScore("bleu", corpus=lambda refs, hyps: corpus_score("bleu", refs, hyps))),
}
