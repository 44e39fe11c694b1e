"""Self-attention maps: each row a probability distribution over the tokens, exactly as the layer computes it.
The model loads as the "Inside the model" tab loads it, in fp32 whatever the CPU, so rows sum to 1 within 1e-5."""

from __future__ import annotations

import math

import pytest
import torch

from llm_demo.errors import InputError
from llm_demo.models import get_model
from llm_demo.tasks.attention import attention_maps
from llm_demo.ui.inside_tab import VIEW_DTYPE

TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture(scope="module")
def encoder(registry):
    return get_model(
        registry.resolve("fill_mask", "Tiny BERT MLM"), "encoder", attn_implementation="eager", dtype=VIEW_DTYPE
    )


def test_every_row_sums_to_one_and_the_map_is_tokens_by_tokens(encoder):
    maps = attention_maps(encoder, [TEXT])[0]
    tokens = encoder.tokenizer.convert_ids_to_tokens(encoder.tokenizer(TEXT)["input_ids"])
    assert maps.tokens == tokens and tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
    assert maps.weights.shape == (2, 2, len(tokens), len(tokens))  # the tiny BERT: 2 layers, 2 heads
    assert torch.allclose(maps.weights.sum(dim=-1), torch.ones(2, 2, len(tokens)), atol=1e-5)
    assert (maps.weights >= 0).all()


def test_first_layer_weights_are_softmax_of_queries_times_keys(encoder):
    maps = attention_maps(encoder, [TEXT])[0]
    bert = encoder.model
    input_ids = torch.tensor([encoder.tokenizer(TEXT)["input_ids"]])
    attention = bert.encoder.layer[0].attention.self
    heads, size = bert.config.num_attention_heads, bert.config.hidden_size // bert.config.num_attention_heads
    with torch.inference_mode():
        hidden = bert.embeddings(input_ids=input_ids)[0]  # (T, hidden)
        queries = attention.query(hidden).view(-1, heads, size).transpose(0, 1)  # (heads, T, size)
        keys = attention.key(hidden).view(-1, heads, size).transpose(0, 1)
        expected = (queries @ keys.transpose(1, 2) / math.sqrt(size)).softmax(dim=-1)
    assert torch.allclose(maps.weights[0], expected, atol=1e-5)


def test_mean_over_heads_averages_the_layer_s_heads(encoder):
    maps = attention_maps(encoder, [TEXT])[0]
    assert torch.allclose(maps.mean_over_heads(1), (maps.head(1, 0) + maps.head(1, 1)) / 2)


def test_padding_in_a_batch_does_not_change_a_short_text_s_map(encoder):
    short, long = "A cat.", TEXT
    together = attention_maps(encoder, [short, long])
    assert together[0].weights.shape[-1] == 5  # [CLS] a cat . [SEP], cropped back from the padded width
    assert torch.allclose(together[0].weights, attention_maps(encoder, [short])[0].weights, atol=1e-5)
    assert torch.allclose(together[1].weights, attention_maps(encoder, [long])[0].weights, atol=1e-5)


def test_text_too_long_for_a_readable_map_is_refused(encoder):
    with pytest.raises(InputError, match="this view takes at most 64") as caught:
        attention_maps(encoder, ["word " * 80])
    assert caught.value.key == "too_many_tokens"


def test_a_model_loaded_with_fused_attention_is_refused(registry):
    fused = get_model(
        registry.resolve("fill_mask", "Tiny BERT MLM"), "encoder", attn_implementation="sdpa", dtype=VIEW_DTYPE
    )
    with pytest.raises(ValueError, match="eager"):
        attention_maps(fused, [TEXT])
