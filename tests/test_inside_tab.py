"""The "Inside the model" tab through its public API: /fill_mask, /attention, /explain, /surprise, which compute in
fp32 whatever LLM_DEMO_DTYPE says; the tests load their references the same way."""

from __future__ import annotations

import math

import pytest
from gradio_client.exceptions import AppError

from llm_demo.models.cache import model_cache
from llm_demo.tasks.fill_mask import fill_mask
from llm_demo.tasks.generation import token_logprobs
from llm_demo.ui.inside_tab import VIEW_DTYPE


def test_fill_mask_endpoint_shows_the_backend_s_candidates(client, load):
    result, status = client.predict("Paris is the [MASK] of France.", "Tiny BERT MLM", 4, api_name="/fill_mask")
    mlm = load("fill_mask", "Tiny BERT MLM", "masked-lm", dtype=VIEW_DTYPE)
    expected = fill_mask(mlm, ["Paris is the [MASK] of France."], 4)[0]
    assert [c["label"] for c in result["confidences"]] == [filler.word for filler in expected]
    assert [c["confidence"] for c in result["confidences"]] == pytest.approx([f.probability for f in expected])
    assert "tiny-bert-mlm" in status


def test_fill_mask_endpoint_names_the_mask_token_when_it_is_missing(client):
    with pytest.raises(AppError, match=r"Put the mask token \[MASK\]"):
        client.predict("Paris is the capital of France.", "Tiny BERT MLM", 4, api_name="/fill_mask")


def test_attention_endpoint_plots_and_lists_a_head_whose_rows_sum_to_one(client):
    plot, table, _ = client.predict("The cat sat.", "Tiny BERT classifier", 2, 2, api_name="/attention")
    assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/png;base64,")
    assert table["headers"] == ["Token ↓ attends to →", "1 [CLS]", "2 the", "3 cat", "4 sat", "5 .", "6 [SEP]"]
    assert [row[0] for row in table["data"]] == table["headers"][1:]
    for row in table["data"]:
        assert sum(row[1:]) == pytest.approx(1, abs=1e-3)  # weights are shown to 4 decimals


def test_attention_endpoint_refuses_a_layer_the_model_does_not_have(client):
    with pytest.raises(AppError, match="Layer must be a number between 1 and 2"):
        client.predict("The cat sat.", "Tiny BERT MLM", 3, 1, api_name="/attention")


def test_explain_endpoint_highlights_the_whole_text_for_the_predicted_label(client):
    text = "I loved this film."
    marked, prediction, summary, _ = client.predict(text, "Tiny BERT sentiment", api_name="/explain")
    assert "".join(piece["token"] for piece in marked) == text
    scores = [piece["class_or_confidence"] for piece in marked if piece["class_or_confidence"] is not None]
    assert max(abs(score) for score in scores) == pytest.approx(1)  # scaled so the strongest token is full colour
    assert summary.startswith(f"**{prediction['label']}**")


def test_surprise_endpoint_gives_perplexity_from_the_per_token_log_probs(client, load):
    text = "The cat sat on the mat."
    marked, perplexity, table, _ = client.predict(text, "Tiny GPT-2", api_name="/surprise")
    expected = token_logprobs(load("generation", "Tiny GPT-2", "causal-lm", dtype=VIEW_DTYPE), [text])[0]
    assert "".join(piece["token"] for piece in marked) == text
    assert table["headers"] == ["Piece", "Log-probability", "Probability"]
    assert sum(row[1] for row in table["data"]) == pytest.approx(expected.total, abs=1e-3)
    assert perplexity == pytest.approx(math.exp(-expected.total / len(expected.logprobs)), rel=1e-4)


@pytest.mark.parametrize(
    "api_name, arguments",
    [
        ("/fill_mask", ("Paris is the [MASK] of France.", "Tiny BERT MLM", 4)),
        ("/attention", ("The cat sat.", "Tiny BERT classifier", 1, 1)),
        ("/explain", ("I loved this film.", "Tiny BERT sentiment")),
        ("/surprise", ("The cat sat on the mat.", "Tiny GPT-2")),
    ],
)
def test_every_view_computes_in_fp32_whatever_llm_demo_dtype_says(client, monkeypatch, api_name, arguments):
    monkeypatch.setenv("LLM_DEMO_DTYPE", "bfloat16")
    model_cache().clear()  # no model loaded earlier, in whatever dtype, stands in for the view's own load
    *_, status = client.predict(*arguments, api_name=api_name)
    assert "cpu · float32" in status


def test_attention_sliders_end_at_the_models_layer_and_head_counts(registry, tiny):
    from llm_demo.ui.inside_tab import size_attention_sliders

    layers, heads = size_attention_sliders(registry, "Tiny BERT MLM")
    assert (layers["maximum"], heads["maximum"]) == (2, 2)  # tiny BERT: two layers of two heads
    unchanged = size_attention_sliders(registry, "no-such-org/no-such-model")
    assert unchanged == ({"__type__": "update"}, {"__type__": "update"})
