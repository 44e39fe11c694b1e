"""Masked-word prediction: the top-k candidates for the one mask, as the masked-LM objective scores them.
The model loads as the "Inside the model" tab loads it, in fp32 whatever the CPU."""

from __future__ import annotations

import pytest
import torch

from llm_demo.errors import InputError
from llm_demo.tasks.fill_mask import fill_mask
from llm_demo.ui.inside_tab import VIEW_DTYPE

MLM = ("fill_mask", "Tiny BERT MLM", "masked-lm")


@pytest.fixture(scope="module")
def mlm(load):
    return load(*MLM, dtype=VIEW_DTYPE)


def test_top_k_are_distinct_tokens_sorted_by_probability_summing_to_at_most_one(mlm):
    fillers = fill_mask(mlm, ["Paris is the [MASK] of France."], top_k=7)[0]
    probabilities = [filler.probability for filler in fillers]
    assert len(fillers) == 7
    assert len({filler.token for filler in fillers}) == 7
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1


def test_candidates_are_the_softmax_top_k_at_the_mask_position(mlm):
    text = "Paris is the [MASK] of France."
    encoded = mlm.tokenizer(text, return_tensors="pt")
    position = encoded["input_ids"][0].tolist().index(mlm.tokenizer.mask_token_id)
    with torch.inference_mode():
        probabilities = mlm.model(**encoded).logits[0, position].softmax(-1)
    expected = probabilities.topk(5)
    fillers = fill_mask(mlm, [text], top_k=5)[0]
    assert [filler.token for filler in fillers] == mlm.tokenizer.convert_ids_to_tokens(expected.indices.tolist())
    assert [filler.probability for filler in fillers] == pytest.approx(expected.values.tolist(), rel=1e-5)


def test_each_candidate_is_shown_in_place_of_the_mask(mlm):
    for filler in fill_mask(mlm, ["Paris is the [MASK] of France."], top_k=10)[0]:
        if not filler.token.startswith("##"):  # a word piece joins the word before it
            assert filler.text == f"paris is the {filler.word} of france."


def test_batched_texts_of_different_lengths_match_one_at_a_time(mlm):
    texts = ["A [MASK].", "The weather in the north of the country is [MASK] today, they say.", "[MASK] is here"]
    together = fill_mask(mlm, texts, top_k=3, budget=64)  # small budget: several batches, padding in each
    alone = [fill_mask(mlm, [text], top_k=3)[0] for text in texts]
    for batched, single in zip(together, alone, strict=True):
        assert [f.token for f in batched] == [f.token for f in single]
        assert [f.probability for f in batched] == pytest.approx([f.probability for f in single], rel=1e-4)


def test_roberta_spelling_of_the_mask_is_read_as_this_model_s_mask(mlm):
    assert (
        fill_mask(mlm, ["Paris is the <mask> of France."])[0] == fill_mask(mlm, ["Paris is the [MASK] of France."])[0]
    )


def test_text_without_a_mask_is_refused_naming_the_mask_token(mlm):
    with pytest.raises(InputError, match=r"\[MASK\]") as caught:
        fill_mask(mlm, ["Paris is the capital of France."])
    assert caught.value.key == "no_mask"


def test_two_masks_are_refused(mlm):
    with pytest.raises(InputError, match="2 times") as caught:
        fill_mask(mlm, ["[MASK] is the [MASK] of France."])
    assert caught.value.key == "several_masks"


def test_text_longer_than_the_model_reads_is_refused_not_cut(mlm):
    with pytest.raises(InputError, match="602 tokens long; this view takes at most 512") as caught:
        fill_mask(mlm, ["word " * 599 + "[MASK]"])
    assert caught.value.key == "too_many_tokens"
