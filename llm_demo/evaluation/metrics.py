"""Scores of predictions against references: scikit-learn for classification, sacrebleu for translation,
the SQuAD rules for question answering, token-weighted perplexity for generation.

scikit-learn and sacrebleu are imported inside the functions: the command line starts faster without them.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import string
import unicodedata
from dataclasses import dataclass

import numpy as np

from ..text import HAN

CI_LEVEL = 0.95
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


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


def classification_metrics(
    references: list[str], predictions: list[str], labels: list[str] | None = None, bootstrap: int = 1000, seed: int = 0
) -> ClassificationMetrics:
    """Accuracy, precision, recall and F1 (macro, weighted, per class), the confusion matrix and bootstrap CIs.

    `labels` fixes the classes and their order; by default every label seen in either list, sorted.
    Undefined ratios (a class never predicted) count as 0, as scikit-learn's zero_division=0 does.
    """
    labels = list(labels) if labels is not None else sorted(set(references) | set(predictions))
    return metrics_from_counts(collections.Counter(zip(references, predictions)), labels, bootstrap, seed)


def metrics_from_counts(
    counts: dict[tuple[str, str], int], labels: list[str], bootstrap: int = 1000, seed: int = 0
) -> ClassificationMetrics:
    """classification_metrics from how many rows have each (reference, prediction) pair: a few numbers per
    class, however many rows there are. The definitions are scikit-learn's (the tests compare)."""
    classes = list(labels) + sorted({label for pair in counts for label in pair} - set(labels))
    index = {label: position for position, label in enumerate(classes)}
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for (reference, prediction), count in counts.items():
        confusion[index[reference], index[prediction]] += count
    k = len(labels)
    true_positive = np.diagonal(confusion)[:k].astype(float)
    predicted, support = confusion.sum(axis=0)[:k], confusion.sum(axis=1)[:k]
    precision, recall = _ratio(true_positive, predicted), _ratio(true_positive, support)
    f1 = _ratio(2 * true_positive, predicted + support)  # 2TP / (2TP + FP + FN)
    weights = support / support.sum() if support.sum() else np.zeros(k)
    accuracy_ci, macro_f1_ci = _bootstrap_intervals(confusion, k, bootstrap, seed)
    return ClassificationMetrics(
        accuracy=float(np.trace(confusion) / confusion.sum()),
        macro_precision=_mean(precision),
        macro_recall=_mean(recall),
        macro_f1=_mean(f1),
        weighted_precision=float(precision @ weights),
        weighted_recall=float(recall @ weights),
        weighted_f1=float(f1 @ weights),
        per_class=[
            ClassMetrics(label, float(p), float(r), float(f), int(s))
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        ],
        labels=list(labels),
        confusion=confusion[:k, :k].tolist(),
        accuracy_ci=accuracy_ci,
        macro_f1_ci=macro_f1_ci,
    )


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else 0.0


def bootstrap_confusions(confusion: np.ndarray, samples: int, seed: int = 0) -> np.ndarray:
    """Confusion matrices (samples, classes, classes) of `samples` resamples of the rows, with replacement.

    Drawing n rows with replacement and counting them by (reference, prediction) cell is exactly a draw
    from the multinomial distribution of n trials over the cells' shares, so the resamples are drawn that
    way: the same bootstrap, exact for the data, in time independent of the number of rows.
    """
    k = confusion.shape[0]
    total = int(confusion.sum())
    shares = confusion.ravel() / total
    draws = np.random.default_rng(seed).multinomial(total, shares, size=samples)
    return draws.reshape(samples, k, k)


def accuracy_and_macro_f1(confusions: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and macro F1 over the first `classes` classes of each confusion matrix, with scikit-learn's
    definitions (zero_division=0)."""
    true_positive = np.diagonal(confusions, axis1=1, axis2=2).astype(float)
    predicted = confusions.sum(axis=1)
    actual = confusions.sum(axis=2)
    denominator = predicted + actual  # F1 = 2TP / (2TP + FP + FN) = 2TP / (predicted + actual)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive), where=denominator > 0)
    return true_positive.sum(axis=1) / confusions.sum(axis=(1, 2)), f1[:, :classes].mean(axis=1)


def _bootstrap_intervals(
    confusion: np.ndarray, labels: int, samples: int, seed: int
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    if samples <= 0 or not confusion.sum() or not labels:
        return None, None
    accuracy, macro_f1 = accuracy_and_macro_f1(bootstrap_confusions(confusion, samples, seed), labels)
    return _percentile_interval(accuracy), _percentile_interval(macro_f1)


def bootstrap_share_interval(hits: int, rows: int, samples: int = 1000, seed: int = 0) -> tuple[float, float] | None:
    """95% bootstrap interval of a share (`hits` of `rows`, a fail rate); None without rows.

    The number of hits in a resample of the rows is a binomial draw of `rows` trials at the share, so the
    resamples are drawn that way: the same bootstrap, from two counts.
    """
    if samples <= 0 or rows <= 0:
        return None
    draws = np.random.default_rng(seed).binomial(rows, hits / rows, size=samples)
    return _percentile_interval(draws / rows)


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
    return HAN.sub(r" \g<0> ", normalize_answer(text)).split()


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
    return QAScore(
        max(exact_match(prediction, gold) for gold in golds), max(token_f1(prediction, gold) for gold in golds)
    )


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


def _translation_scorers(cjk: bool) -> dict:
    from sacrebleu.metrics import BLEU, CHRF, TER

    return {"bleu": BLEU(tokenize="zh" if cjk else "13a"), "chrf": CHRF(), "ter": TER(asian_support=cjk)}


@dataclass
class TranslationStatistics:
    """sacrebleu's sentence statistics of BLEU, chrF and TER, summed row by row, so corpus scores need no
    list of every translation. Kept for both tokenisations (Chinese and Japanese by character, else 13a),
    since which one applies is known only once every reference has been read."""

    sums: dict[str, list[float]] = dataclasses.field(default_factory=dict)  # "bleu cjk" -> summed statistics
    cjk_characters: int = 0
    characters: int = 0  # not counting spaces

    def add(self, references: list[str], hypotheses: list[str]) -> list[float]:
        """Count these rows in; returns each row's chrF (for finding the worst translations)."""
        self.cjk_characters += sum(len(HAN.findall(text)) for text in references)
        self.characters += sum(len(text.replace(" ", "")) for text in references)
        per_row: list[float] = []
        for cjk in (False, True):
            for name, scorer in _translation_scorers(cjk).items():
                if name == "chrf" and cjk:
                    continue  # chrF reads characters either way
                stats = scorer._extract_corpus_statistics(hypotheses, [references])
                if name == "chrf":
                    per_row = [scorer._compute_score_from_stats(row).score for row in stats]
                key = f"{name} {'cjk' if cjk else '13a'}" if name != "chrf" else name
                self.sums[key] = [sum(column) for column in zip(self.sums.get(key, [0] * len(stats[0])), *stats)]
        return per_row

    def metrics(self) -> TranslationMetrics:
        """Corpus BLEU, chrF and TER, as sacrebleu's corpus_score computes them over every row added."""
        cjk = bool(self.characters) and self.cjk_characters > 0.3 * self.characters
        scorers = _translation_scorers(cjk)
        for scorer in scorers.values():
            scorer.num_refs = 1  # what corpus_score records for its signature: one reference per row
        scores = {
            name: scorer._compute_score_from_stats(
                self.sums[name if name == "chrf" else f"{name} {'cjk' if cjk else '13a'}"]
            ).score
            for name, scorer in scorers.items()
        }
        return TranslationMetrics(**scores, signatures={name: str(m.get_signature()) for name, m in scorers.items()})


def translation_metrics(references: list[str], hypotheses: list[str]) -> TranslationMetrics:
    """Corpus BLEU, chrF and TER; Chinese or Japanese references are tokenised by character, as sacrebleu advises."""
    statistics = TranslationStatistics()
    statistics.add(references, hypotheses)
    return statistics.metrics()
