"""Generation models' linear layers in oneDNN's layout on the CPU: the same numbers, only where they may go."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from helpers import entry
from torch import nn
from transformers.pytorch_utils import Conv1D

from llm_demo.models.local import onednn
from llm_demo.models.local.model import load_model
from llm_demo.models.local.onednn import PackedLinear, pack_linear_layers, packing_works
from llm_demo.tasks.attribution import explain
from llm_demo.tasks.generation import GenerationSettings, generate, stream

needs_onednn = pytest.mark.skipif(not packing_works(torch.float32), reason="this torch has no oneDNN for the CPU")


def linear_layers(model: nn.Module) -> dict[str, str]:
    """Each layer that multiplies like nn.Linear, by name: its class."""
    return {
        name: type(module).__name__
        for name, module in model.named_modules()
        if isinstance(module, (nn.Linear, Conv1D, PackedLinear))
    }


@needs_onednn
@pytest.mark.parametrize("bias", [True, False])
def test_a_packed_layer_multiplies_as_nn_linear_for_any_number_of_rows(bias):
    torch.manual_seed(0)
    linear = nn.Linear(96, 40, bias=bias)
    packed = PackedLinear(linear.weight, linear.bias)
    with torch.inference_mode():
        for rows in (torch.randn(1, 96), torch.randn(8, 96), torch.randn(3, 7, 96)):
            torch.testing.assert_close(packed(rows), linear(rows), rtol=1e-5, atol=1e-5)


@needs_onednn
def test_gpt2s_transposed_conv1d_is_packed_the_right_way_round():
    torch.manual_seed(0)
    conv = Conv1D(40, 96)  # GPT-2 keeps its weight as (in, out)
    model = nn.Sequential(conv)
    rows = torch.randn(2, 5, 96)
    with torch.inference_mode():
        expected = conv(rows)
        assert pack_linear_layers(model, torch.float32) == 1 and isinstance(model[0], PackedLinear)
        torch.testing.assert_close(model(rows), expected, rtol=1e-5, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("folder", ["gpt2", "gpt2_chat"])
def test_a_packed_language_model_writes_what_the_plain_one_wrote(tiny, folder, monkeypatch):
    generator = entry(getattr(tiny, folder), folder, "generation")
    settings = GenerationSettings(max_new_tokens=12, temperature=0, repetition_penalty=1.0)
    prompts = ["The quick brown fox", "Paris is the capital of France. Language models"]
    monkeypatch.setenv("LLM_DEMO_PACK_WEIGHTS", "0")
    plain = load_model(generator, "causal-lm")
    monkeypatch.setenv("LLM_DEMO_PACK_WEIGHTS", "1")
    packed = load_model(generator, "causal-lm")
    before, after = linear_layers(plain.model), linear_layers(packed.model)
    assert Counter(before.values()) == {"Conv1D": 8, "Linear": 1}  # 2 blocks of c_attn, c_proj, c_fc, c_proj; lm_head
    assert after == dict.fromkeys(before, "PackedLinear")  # every one of them, and nothing else
    ids = plain.tokenizer(prompts[1], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        torch.testing.assert_close(
            packed.model(input_ids=ids).logits, plain.model(input_ids=ids).logits, rtol=1e-4, atol=1e-4
        )
    assert generate(packed, prompts, settings) == generate(plain, prompts, settings)
    assert list(stream(packed, prompts[0], settings))[-1] == generate(plain, prompts[:1], settings)[0]


def test_classifiers_keep_their_gradients_for_attributions(tiny):
    loaded = load_model(entry(tiny.sentiment, "sentiment", "sentiment"), "sequence-classification")
    # 2 layers of query, key, value, attention output, intermediate, output; the pooler; the classifier
    assert Counter(linear_layers(loaded.model).values()) == {"Linear": 2 * 6 + 1 + 1}
    result = explain(loaded, "I loved this film", steps=4)
    assert result.tokens == ["[CLS]", "i", "loved", "this", "film", "[SEP]"]
    assert all(score != 0 for score in result.scores[1:-1])  # gradients reached every word


def test_nothing_is_packed_where_onednn_lacks_the_dtype(monkeypatch):
    onednn.packing_works.cache_clear()
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    model = nn.Sequential(nn.Linear(8, 4).to(torch.bfloat16))
    try:
        assert pack_linear_layers(model, torch.bfloat16) == 0 and isinstance(model[0], nn.Linear)
    finally:
        onednn.packing_works.cache_clear()
