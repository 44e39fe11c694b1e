"""Metrics equal scikit-learn's and sacrebleu's, and the SQuAD answer rules hold on known cases."""

from __future__ import annotations

import numpy as np
import pytest
import sacrebleu
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from llm_demo.evaluation.metrics import (
    accuracy_and_macro_f1,
    bootstrap_confusions,
    classification_metrics,
    normalize_answer,
    qa_metrics,
    qa_score,
    token_f1,
    translation_metrics,
)

REFERENCES = ["cat", "dog", "dog", "bird", "cat", "cat", "dog", "bird", "bird", "cat"]
PREDICTIONS = ["cat", "dog", "cat", "bird", "dog", "cat", "dog", "cat", "bird", "cat"]


def test_classification_metrics_equal_scikit_learn():
    result = classification_metrics(REFERENCES, PREDICTIONS, bootstrap=0)
    labels = ["bird", "cat", "dog"]
    assert result.labels == labels
    assert result.accuracy == accuracy_score(REFERENCES, PREDICTIONS) == 0.7
    for average, (p, r, f) in {
        "macro": (result.macro_precision, result.macro_recall, result.macro_f1),
        "weighted": (result.weighted_precision, result.weighted_recall, result.weighted_f1),
    }.items():
        expected = precision_recall_fscore_support(REFERENCES, PREDICTIONS, average=average, zero_division=0)
        assert (p, r, f) == pytest.approx(expected[:3])
    precision, recall, f1, support = precision_recall_fscore_support(REFERENCES, PREDICTIONS, labels=labels)
    assert [(c.label, c.support) for c in result.per_class] == [("bird", 3), ("cat", 4), ("dog", 3)]
    assert [c.f1 for c in result.per_class] == pytest.approx(f1)
    assert [c.precision for c in result.per_class] == pytest.approx(precision)
    assert result.confusion == confusion_matrix(REFERENCES, PREDICTIONS, labels=labels).tolist()
    assert result.accuracy_ci is None and result.macro_f1_ci is None


def test_label_order_follows_the_given_labels():
    result = classification_metrics(REFERENCES, PREDICTIONS, labels=["dog", "cat", "bird"], bootstrap=0)
    assert [c.label for c in result.per_class] == ["dog", "cat", "bird"]
    assert result.confusion == confusion_matrix(REFERENCES, PREDICTIONS, labels=["dog", "cat", "bird"]).tolist()


def test_bootstrap_resamples_score_as_scikit_learn_scores_them():
    labels = ["bird", "cat", "dog"]
    confusion = confusion_matrix(REFERENCES, PREDICTIONS, labels=labels)
    confusions = bootstrap_confusions(confusion, samples=20, seed=3)
    accuracy, macro_f1 = accuracy_and_macro_f1(confusions, len(labels))
    for sample, drawn in enumerate(confusions):
        assert drawn.sum() == len(REFERENCES)  # each resample has as many rows as the data
        cells = [(labels[r], labels[p]) for r in range(3) for p in range(3) for _ in range(drawn[r, p])]
        refs, preds = [r for r, _ in cells], [p for _, p in cells]
        assert accuracy[sample] == pytest.approx(accuracy_score(refs, preds))
        assert macro_f1[sample] == pytest.approx(f1_score(refs, preds, labels=labels, average="macro", zero_division=0))


def test_bootstrap_draws_cells_as_often_as_resampling_rows_would():
    """Resampling rows with replacement puts each row in a cell with the cell's share of the rows; over many
    resamples the mean count of every cell is that share of n."""
    confusion = np.array([[50, 10], [5, 35]])
    confusions = bootstrap_confusions(confusion, samples=20000, seed=0)
    assert confusions.mean(axis=0) == pytest.approx(confusion, rel=0.02)
    assert confusions.var(axis=0)[0, 0] == pytest.approx(100 * 0.5 * 0.5, rel=0.05)  # binomial n p (1 - p)


def test_counts_of_a_million_rows_score_like_the_rows(monkeypatch):
    counts = {("cat", "cat"): 400_000, ("cat", "dog"): 100_000, ("dog", "dog"): 450_000, ("dog", "cat"): 50_000}
    from llm_demo.evaluation.metrics import metrics_from_counts

    result = metrics_from_counts(counts, ["cat", "dog"], bootstrap=200)
    assert result.accuracy == 0.85 and result.confusion == [[400_000, 100_000], [50_000, 450_000]]
    assert result.per_class[0].recall == 0.8 and result.per_class[1].precision == 450_000 / 550_000
    low, high = result.accuracy_ci
    assert low < 0.85 < high and high - low < 0.002


def test_bootstrap_intervals_surround_the_estimate_and_repeat_with_the_seed():
    references = REFERENCES * 20
    predictions = PREDICTIONS * 20
    first = classification_metrics(references, predictions, bootstrap=500, seed=1)
    assert first.accuracy_ci[0] < first.accuracy < first.accuracy_ci[1]
    assert first.macro_f1_ci[0] < first.macro_f1 < first.macro_f1_ci[1]
    assert classification_metrics(references, predictions, bootstrap=500, seed=1).accuracy_ci == first.accuracy_ci


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("  a   cat,  AN apple; the end. ", "cat apple end"),
        ("Theatre", "theatre"),
        ("“巴黎。”", "“巴黎”"),
        ("巴黎。", "巴黎"),
    ],
)
def test_squad_normalisation(text, expected):
    assert normalize_answer(text) == expected


def test_squad_exact_match_and_f1_on_known_cases():
    assert qa_score("the Nile", ["Nile", "river Nile"]).exact_match == 1.0
    score = qa_score("the cat sat", ["a cat sat on the mat"])
    assert score.exact_match == 0.0
    assert score.f1 == pytest.approx(2 * (2 / 2) * (2 / 4) / (2 / 2 + 2 / 4))  # "cat sat" vs "cat sat on mat"
    assert token_f1("中国北方", "中国") == pytest.approx(2 * 0.5 * 1 / 1.5)  # characters are the words
    assert qa_score("", []).exact_match == 1.0  # no answer expected, none given (SQuAD2)
    assert qa_score("Paris", []).f1 == 0.0
    metrics = qa_metrics([qa_score("Paris", ["Paris"]), qa_score("Lyon", ["Paris"])])
    assert (metrics.exact_match, metrics.f1) == (0.5, 0.5)


def test_translation_metrics_equal_sacrebleu():
    references = ["The cat sat on the mat.", "It is raining today.", "He reads a book every night."]
    hypotheses = ["The cat is on the mat.", "Today it rains.", "He reads one book each night."]
    result = translation_metrics(references, hypotheses)
    assert result.bleu == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score)
    assert result.chrf == pytest.approx(sacrebleu.corpus_chrf(hypotheses, [references]).score)
    assert result.ter == pytest.approx(sacrebleu.corpus_ter(hypotheses, [references]).score)
    assert "tok:13a" in result.signatures["bleu"]


def test_chinese_references_are_scored_with_the_chinese_tokenizer():
    references, hypotheses = ["今天天气很好。", "我喜欢读书。"], ["今天天气不错。", "我喜欢看书。"]
    result = translation_metrics(references, hypotheses)
    assert result.bleu == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references], tokenize="zh").score)
    assert "tok:zh" in result.signatures["bleu"]
