"""No generation runs past a model's window: new tokens are capped by what the model can hold."""

from __future__ import annotations

import pytest
import torch
import transformers
from twins import CAUSAL_POSITIONS, SEQ2SEQ_POSITIONS

from llm_demo.errors import ModelError
from llm_demo.models import get_model
from llm_demo.models.local.generate import prompt_ids
from llm_demo.models.local.loaded import max_new_tokens
from llm_demo.tasks.generation import GenerationSettings, fit_to_window, generate
from llm_demo.tasks.translation import TranslationSettings, translate
from llm_demo.ui.common import new_token_limit

OPUS_MT = "Chinese → English (opus-mt-zh-en)"
GPT2 = "GPT-2 124M (plain completion)"


@pytest.fixture
def endless_marian(twin_registry):
    """The Marian twin (128 decoder positions) made never to say </s>, as a degenerate repeating output does."""
    loaded = get_model(twin_registry.resolve("translation", OPUS_MT), "seq2seq")
    bias = loaded.model.final_logits_bias
    saved = bias.clone()
    bias[..., loaded.tokenizer.eos_token_id] = -1e4
    yield loaded
    bias.copy_(saved)


@pytest.fixture
def endless_gpt2(twin_registry):
    """The GPT-2 twin (256 positions) that never ends its reply."""
    loaded = get_model(twin_registry.resolve("generation", GPT2), "causal-lm")
    head = loaded.model.lm_head
    loaded.model.lm_head = EosNever(head, loaded.tokenizer.eos_token_id)
    yield loaded
    loaded.model.lm_head = head


class EosNever(torch.nn.Module):
    """An output layer that never picks the end-of-text token."""

    def __init__(self, head, eos: int) -> None:
        super().__init__()
        self.head, self.eos = head, eos

    def forward(self, hidden):
        logits = self.head(hidden)
        logits[..., self.eos] = -1e4
        return logits


def test_marian_asked_for_1024_new_tokens_answers_with_a_capped_translation(endless_marian):
    """The bug as a user met it: generate() ran past the decoder's 128 positions and failed with IndexError."""
    capped = translate(endless_marian, ["Hello world"], TranslationSettings(num_beams=1, max_new_tokens=1024))
    at_limit = translate(
        endless_marian, ["Hello world"], TranslationSettings(num_beams=1, max_new_tokens=SEQ2SEQ_POSITIONS)
    )
    assert capped == at_limit
    assert len(endless_marian.tokenizer(capped[0])["input_ids"]) > SEQ2SEQ_POSITIONS // 4


def test_translation_tab_at_its_maximum_answers_on_a_128_position_marian(endless_marian, twin_client):
    text, _ = twin_client.predict("Hello world", OPUS_MT, 1, 1024, "", "", api_name="/translate")
    assert (
        text
        == translate(
            endless_marian, ["Hello world"], TranslationSettings(num_beams=1, max_new_tokens=SEQ2SEQ_POSITIONS)
        )[0]
    )


def test_generation_is_cut_to_what_the_window_holds_after_the_prompt(endless_gpt2):
    settings = GenerationSettings(max_new_tokens=1024, temperature=0, repetition_penalty=1.0)
    prompt_tokens = len(prompt_ids(endless_gpt2, "Paris is the capital of France."))
    assert (
        fit_to_window(endless_gpt2, "Paris is the capital of France.", settings).max_new_tokens
        == CAUSAL_POSITIONS - prompt_tokens
    )
    reply = generate(endless_gpt2, ["Paris is the capital of France.", "Hello"], settings)
    assert len(endless_gpt2.tokenizer(reply[0])["input_ids"]) == pytest.approx(CAUSAL_POSITIONS - prompt_tokens, abs=8)


def test_a_prompt_that_fills_the_window_is_refused(endless_gpt2):
    with pytest.raises(ModelError, match="fills this model's window of 256 tokens") as caught:
        fit_to_window(endless_gpt2, "word " * 300, GenerationSettings())
    assert caught.value.key == "prompt_too_long"


def test_generation_tab_says_when_the_reply_is_capped(endless_gpt2, twin_client):
    job = twin_client.submit("Hello", GPT2, "", 1024, 0, 1, 1, None, api_name="/generate")
    text, status = job.result()
    room = CAUSAL_POSITIONS - len(prompt_ids(endless_gpt2, "Hello"))
    assert f"The reply stops after {room} new tokens" in status
    assert "window of 256 tokens" in status


def test_sliders_offer_the_picked_models_real_limit(twin_registry):
    assert new_token_limit(twin_registry, "translation", OPUS_MT, 1024) == SEQ2SEQ_POSITIONS
    assert new_token_limit(twin_registry, "generation", GPT2, 1024) == CAUSAL_POSITIONS - 1
    assert new_token_limit(twin_registry, "generation", GPT2, 100) == 100  # the app's own ceiling is lower


def test_a_model_whose_config_cannot_be_read_keeps_the_apps_ceiling(twin_registry):
    assert new_token_limit(twin_registry, "generation", "someone/not-downloadable-here", 1024) == 1024


@pytest.mark.parametrize(
    "config, limit",
    [
        (transformers.MarianConfig(max_position_embeddings=512), 512),  # opus-mt: the decoder's own table
        (transformers.M2M100Config(max_position_embeddings=1024), 1024),  # NLLB-200
        (transformers.GPT2Config(n_positions=1024), 1023),  # prompt and reply share the window
        (transformers.Qwen2Config(max_position_embeddings=32768), 32767),
        (transformers.T5Config(), None),  # relative positions: the config sets no limit
    ],
)
def test_the_limit_is_read_from_the_config_alone(config, limit):
    assert max_new_tokens(config) == limit
