"""Token surprise: a causal LM's log-probability of each token, laid over the text, and the text's perplexity.
The model loads as the "Inside the model" tab loads it, in fp32 whatever the CPU."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from llm_demo.errors import InputError
from llm_demo.tasks.attribution import surprise
from llm_demo.ui.inside_tab import VIEW_DTYPE

TEXT = "The cat sat on the mat. 今天天气很好。"


@pytest.fixture(scope="module")
def gpt2(load):
    return load("generation", "Tiny GPT-2", "causal-lm", dtype=VIEW_DTYPE)


def test_log_probs_agree_with_the_model_s_own_loss(gpt2):
    result = surprise(gpt2, TEXT)
    ids = torch.tensor([[gpt2.tokenizer.bos_token_id] + gpt2.tokenizer(TEXT)["input_ids"]])
    with torch.inference_mode():
        loss = float(gpt2.model(input_ids=ids, labels=ids).loss)  # mean negative log-likelihood per token
    assert len(result.logprobs.logprobs) == ids.shape[1] - 1
    assert -sum(result.logprobs.logprobs) / len(result.logprobs.logprobs) == pytest.approx(loss, rel=1e-5)
    assert result.perplexity == pytest.approx(math.exp(loss), rel=1e-5)


def test_pieces_join_back_to_the_text_and_carry_every_token_s_log_prob(gpt2):
    result = surprise(gpt2, TEXT)
    assert "".join(span.text for span in result.spans) == TEXT
    assert all(span.score is not None for span in result.spans)  # a BOS predicts the first token too
    assert sum(span.score for span in result.spans) == pytest.approx(result.logprobs.total, rel=1e-6)


def test_without_a_bos_token_the_first_token_is_shown_but_not_scored(gpt2):
    tokenizer = copy.deepcopy(gpt2.tokenizer)
    tokenizer.bos_token = None
    no_bos = dataclasses.replace(gpt2, tokenizer=tokenizer)
    result = surprise(no_bos, "Hello world")
    first = tokenizer.convert_ids_to_tokens(tokenizer("Hello world")["input_ids"])[0]
    assert result.spans[0].text == first and result.spans[0].score is None
    assert "".join(span.text for span in result.spans) == "Hello world"
    assert sum(span.score for span in result.spans[1:]) == pytest.approx(result.logprobs.total, rel=1e-6)


def test_text_longer_than_the_window_is_refused_not_cut(gpt2):
    with pytest.raises(InputError, match="this view takes at most 127") as caught:
        surprise(gpt2, "word " * 200)
    assert caught.value.key == "too_many_tokens"
