"""Fixed-label and zero-shot classification on tiny models, in fp32 on any CPU: these tests check our code paths
to fp32's tolerances (bf16, which `auto` picks on some CPUs, is checked in test_dtype.py)."""

from __future__ import annotations

import pytest
import torch

from llm_demo.errors import InputError, ModelError
from llm_demo.tasks.classification import classify, label_names, parse_labels, zero_shot
from llm_demo.tasks.sentiment import analyse_lines

TEXTS = ["short", "a somewhat longer sentence about the weather today", "中文文本也可以", "mid length text here"]


@pytest.fixture(scope="module")
def classifier(load):
    return load("classification", "Tiny BERT classifier", "sequence-classification", dtype=torch.float32)


@pytest.fixture(scope="module")
def nli(load):
    return load("classification", "Tiny BERT NLI", "sequence-classification", dtype=torch.float32)


def test_label_names_come_from_the_model_config(classifier):
    assert label_names(classifier) == ["negative", "neutral", "positive"]


def test_batched_classification_equals_one_by_one(classifier):
    batched = classify(classifier, TEXTS, budget=64)
    single = [classify(classifier, [text])[0] for text in TEXTS]
    for many, one in zip(batched, single):
        assert many.label == one.label
        assert many.score == pytest.approx(one.score, abs=1e-5)


def test_scores_cover_every_label_best_first_and_sum_to_one(classifier):
    result = classify(classifier, ["hello"])[0]
    assert sorted(s.label for s in result.scores) == ["negative", "neutral", "positive"]
    assert [s.score for s in result.scores] == sorted((s.score for s in result.scores), reverse=True)
    assert sum(s.score for s in result.scores) == pytest.approx(1.0, abs=1e-5)


def test_scores_match_a_direct_forward_pass(classifier):
    encoded = classifier.tokenizer(["hello world"], return_tensors="pt")
    with torch.no_grad():
        expected = classifier.model(**encoded).logits.softmax(-1)[0]
    result = classify(classifier, ["hello world"])[0]
    names = label_names(classifier)
    assert {s.label: s.score for s in result.scores} == pytest.approx(
        {names[i]: float(p) for i, p in enumerate(expected)}, abs=1e-5
    )


def test_zero_shot_single_label_is_a_softmax_over_entailment_logits(nli):
    labels = ["sport", "politics", "food"]
    encoded = nli.tokenizer(
        ["the match"] * 3, [f"This example is {label}." for label in labels], return_tensors="pt", padding=True
    )
    with torch.no_grad():
        entail = nli.model(**encoded).logits[:, 2]  # tiny NLI labels: contradiction, neutral, entailment
    expected = dict(zip(labels, entail.softmax(-1).tolist()))
    result = zero_shot(nli, ["the match"], labels)[0]
    assert {s.label: s.score for s in result.scores} == pytest.approx(expected, abs=1e-5)


def test_zero_shot_multi_label_scores_each_label_on_its_own(nli):
    result = zero_shot(nli, ["the match"], ["sport", "politics"], multi_label=True)[0]
    alone = zero_shot(nli, ["the match"], ["sport"], multi_label=True)[0]
    sport = {s.label: s.score for s in result.scores}["sport"]
    assert sport == pytest.approx(alone.score, abs=1e-5)


def test_zero_shot_batched_equals_one_by_one(nli):
    labels = ["a", "b", "c"]
    batched = zero_shot(nli, TEXTS, labels, budget=128)
    for text, many in zip(TEXTS, batched):
        one = zero_shot(nli, [text], labels)[0]  # near-equal random scores: compare by label, not by rank
        assert {s.label: s.score for s in many.scores} == pytest.approx(
            {s.label: s.score for s in one.scores}, abs=1e-6
        )


@pytest.mark.parametrize("multi_label", [False, True])
def test_zero_shot_split_across_batches_equals_one_batch(nli, multi_label):
    labels = [f"topic number {i}" for i in range(12)]
    assert len(list(nli.zero_shot(TEXTS, labels, multi_label, budget=100_000))) == 1  # every pair in one batch
    split = list(nli.zero_shot(TEXTS, labels, multi_label, budget=64))  # three or four pairs a batch
    assert len(split) > 2 * len(TEXTS) and sorted(i for indices, _ in split for i in indices) == [0, 1, 2, 3]
    assert all(len(result.scores) == len(labels) for _, results in split for result in results)  # only whole texts
    whole = zero_shot(nli, TEXTS, labels, multi_label, budget=100_000)
    for one, many in zip(whole, zero_shot(nli, TEXTS, labels, multi_label, budget=64)):
        assert {s.label: s.score for s in many.scores} == pytest.approx(
            {s.label: s.score for s in one.scores}, abs=1e-6
        )


def test_zero_shot_needs_an_nli_model(classifier):
    with pytest.raises(ModelError) as raised:
        zero_shot(classifier, ["x"], ["a", "b"])
    assert raised.value.key == "not_nli"


@pytest.mark.parametrize(
    "text, multi, key",
    [
        ("", False, "no_labels"),
        (" , ,", False, "no_labels"),
        ("sport, Sport", False, "duplicate_label"),
        ("sport", False, "one_label"),
    ],
)
def test_bad_label_lists_are_refused(text, multi, key):
    with pytest.raises(InputError) as raised:
        parse_labels(text, multi)
    assert raised.value.key == key


def test_more_labels_than_the_limit_are_refused_naming_the_limit_and_its_variable(monkeypatch):
    with pytest.raises(InputError) as raised:
        parse_labels(",".join(f"l{i}" for i in range(3000)), False)
    assert raised.value.key == "too_many_labels" and raised.value.params == {"count": 3000, "limit": 100}
    assert str(raised.value) == "3,000 candidate labels were given; the limit is 100 (LLM_DEMO_MAX_LABELS)."
    assert len(parse_labels([f"l{i}" for i in range(100)], False)) == 100  # a file's labels too
    monkeypatch.setenv("LLM_DEMO_MAX_LABELS", "3")
    with pytest.raises(InputError, match="4 candidate labels"):
        parse_labels("a, b, c, d", False)


def test_a_labels_box_longer_than_a_text_box_is_refused():
    with pytest.raises(InputError) as raised:
        parse_labels(",,," * 10_000, False)
    assert raised.value.key == "text_too_long" and raised.value.params["what"] == "labels"


def test_labels_accept_chinese_commas_and_one_label_in_multi_label_mode():
    assert parse_labels("体育，政治、 美食", False) == ["体育", "政治", "美食"]
    assert parse_labels("sport", True) == ["sport"]


def test_sentiment_gives_one_row_per_non_blank_line_in_order(load):
    loaded = load("sentiment", "Tiny BERT sentiment", "sequence-classification")
    rows = analyse_lines(loaded, "good film\n\n  \nbad film\n好电影")
    assert [row.text for row in rows] == ["good film", "bad film", "好电影"]
    assert [row.label for row in rows] == [r.label for r in classify(loaded, ["good film", "bad film", "好电影"])]


def test_nli_models_are_recognised_by_their_labels(classifier, nli):
    from llm_demo.tasks.classification import is_nli

    assert is_nli(nli) and not is_nli(classifier)
