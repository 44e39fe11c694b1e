"""Integrated gradients: token attributions that add up to the change in the label's logit from the baseline.
Models load as the "Inside the model" tab loads them, in fp32 whatever the CPU."""

from __future__ import annotations

import pytest
import torch
from helpers import entry
from tiny_models import MINILM_DIR

from llm_demo.errors import InputError
from llm_demo.models.local.classify import encode, forward_logits
from llm_demo.models.local.model import load_model
from llm_demo.tasks.attribution import Span, explain, spans
from llm_demo.tasks.classification import classify, label_names
from llm_demo.ui.inside_tab import VIEW_DTYPE

TEXT = "I loved this film, but the ending was terrible."


@pytest.fixture(scope="module")
def minilm_classifier(tiny):
    """The real six-layer MiniLM with a strong random head: a far from linear function of its input."""
    loaded = load_model(
        entry(MINILM_DIR, "MiniLM", "finetune"),
        "sequence-classification",
        dtype=VIEW_DTYPE,
        new_head={"id2label": {0: "no", 1: "yes"}, "label2id": {"no": 0, "yes": 1}},
    )
    torch.manual_seed(0)
    with torch.no_grad():
        loaded.model.classifier.weight.normal_(std=2.0)
    return loaded


def test_attributions_add_up_to_the_logit_change_from_the_baseline(minilm_classifier):
    result = explain(minilm_classifier, TEXT, steps=32)
    change = result.logit - result.baseline_logit
    assert abs(change) > 0.5  # a real difference to explain, not a near-constant model
    assert sum(result.scores) == pytest.approx(change, rel=1e-3)
    assert abs(result.completeness_gap) < 1e-3 * abs(change)


def test_more_integration_steps_close_the_completeness_gap(minilm_classifier):
    coarse, fine = explain(minilm_classifier, TEXT, steps=4), explain(minilm_classifier, TEXT, steps=64)
    assert abs(fine.completeness_gap) < abs(coarse.completeness_gap)


def test_the_explained_label_and_logit_are_the_model_s_own(minilm_classifier):
    result = explain(minilm_classifier, TEXT)
    expected = classify(minilm_classifier, [TEXT])[0]
    assert result.prediction == expected
    target = label_names(minilm_classifier).index(expected.label)
    logit = forward_logits(minilm_classifier, encode(minilm_classifier, [TEXT]))[0, target]
    assert result.logit == pytest.approx(float(logit), abs=1e-4)


def test_special_tokens_get_exactly_zero_and_the_highlight_is_the_whole_text(minilm_classifier):
    result = explain(minilm_classifier, TEXT)
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"
    assert result.scores[0] == 0 and result.scores[-1] == 0  # the baseline keeps them, so nothing changes there
    assert "".join(span.text for span in result.spans) == TEXT
    assert sum(span.score for span in result.spans if span.score is not None) == pytest.approx(sum(result.scores))


def test_batching_the_integration_path_does_not_change_the_scores(minilm_classifier):
    one_batch = explain(minilm_classifier, TEXT, steps=16)
    small_batches = explain(minilm_classifier, TEXT, steps=16, budget=64)  # a few points per forward pass
    assert small_batches.scores == pytest.approx(one_batch.scores, abs=1e-5)


def test_tokens_sharing_a_character_become_one_piece_with_summed_scores():
    # "a 今": byte-level BPE splits 今 into two tokens with the same character span
    assert spans("a 今", [(0, 1), (2, 3), (2, 3)], [1.0, 2.0, 3.0]) == [
        Span("a", 1.0),
        Span(" ", None),
        Span("今", 5.0),
    ]
    assert spans("ab", [(0, 0), (0, 1), (1, 2), (0, 0)], [0.0, None, -1.0, 0.0]) == [Span("a", None), Span("b", -1.0)]


def test_too_few_integration_steps_are_refused(minilm_classifier):
    with pytest.raises(InputError, match="Integration steps must be a number between 4 and 256"):
        explain(minilm_classifier, TEXT, steps=1)


def test_tiny_sentiment_model_explains_its_own_top_label(load):
    loaded = load("sentiment", "Tiny BERT sentiment", "sequence-classification", dtype=VIEW_DTYPE)
    result = explain(loaded, "今天天气很好")
    assert result.prediction.label in {"negative", "neutral", "positive"}
    assert "".join(span.text for span in result.spans) == "今天天气很好"
    assert abs(result.completeness_gap) < 1e-6
