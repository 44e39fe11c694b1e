"""Generation models' linear layers in oneDNN's layout on the CPU: the same numbers, only where they may go."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from llm_demo import packing
from llm_demo.loading import load_model
from llm_demo.packing import PackedLinear, pack_linear_layers, packing_works
from llm_demo.tasks.attribution import explain
from llm_demo.tasks.generation import GenerationSettings, generate, stream

from helpers import entry

needs_onednn = pytest.mark.skipif(not packing_works(torch.float32), reason="this torch has no oneDNN for the CPU")


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
    linears = sum(isinstance(module, (nn.Linear, Conv1D)) for module in plain.model.modules())
    assert sum(isinstance(module, PackedLinear) for module in packed.model.modules()) == linears > 0
    assert not any(isinstance(module, (nn.Linear, Conv1D)) for module in packed.model.modules())
    ids = plain.tokenizer(prompts[1], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        torch.testing.assert_close(packed.model(input_ids=ids).logits, plain.model(input_ids=ids).logits,
                                   rtol=1e-4, atol=1e-4)
    assert generate(packed, prompts, settings) == generate(plain, prompts, settings)
    assert list(stream(packed, prompts[0], settings))[-1] == generate(plain, prompts[:1], settings)[0]


def test_classifiers_keep_their_gradients_for_attributions(tiny):
    loaded = load_model(entry(tiny.sentiment, "sentiment", "sentiment"), "sequence-classification")
    assert not any(isinstance(module, PackedLinear) for module in loaded.model.modules())
    assert len(explain(loaded, "I loved this film", steps=4).tokens) > 0


def test_nothing_is_packed_where_onednn_lacks_the_dtype(monkeypatch):
    packing.packing_works.cache_clear()
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    model = nn.Sequential(nn.Linear(8, 4).to(torch.bfloat16))
    try:
        assert pack_linear_layers(model, torch.bfloat16) == 0 and isinstance(model[0], nn.Linear)
    finally:
        packing.packing_works.cache_clear()
