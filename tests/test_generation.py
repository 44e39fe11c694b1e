"""Generation: chat templates, streaming, settings checks, and per-token log-probabilities."""

from __future__ import annotations

import time

import pytest
import torch

from llm_demo.errors import InputError
from llm_demo.models.local.engine import Engine
from llm_demo.models.local.generate import prompt_ids, uses_chat_template
from llm_demo.models.local.scheduler import Scheduler
from llm_demo.tasks.generation import GenerationSettings, generate, perplexity, stream, token_logprobs

GREEDY = GenerationSettings(max_new_tokens=12, temperature=0, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def chat(load):
    return load("generation", "Tiny chat GPT-2", "causal-lm")


def test_chat_template_is_used_when_the_tokenizer_has_one(chat, plain):
    assert uses_chat_template(chat) and not uses_chat_template(plain)
    expected = chat.tokenizer("<s>system: Be brief.</s><s>user: hi</s><s>assistant:")["input_ids"]
    assert prompt_ids(chat, "hi", system_prompt="Be brief.") == expected
    assert prompt_ids(plain, "hi") == plain.tokenizer("hi")["input_ids"]


def test_streaming_yields_growing_text_that_ends_as_the_full_reply(plain, monkeypatch):
    run = Scheduler._run  # a token slower than one reader's pace, as a real model's: an update per token
    monkeypatch.setattr(Scheduler, "_run", lambda self, *args: time.sleep(0.04) or run(self, *args))
    pieces = list(stream(plain, "The quick brown fox", GREEDY))
    assert len(pieces) > 6
    assert all(later.startswith(earlier) for earlier, later in zip(pieces, pieces[1:]))
    assert pieces[-1] == generate(plain, ["The quick brown fox"], GREEDY)[0]


def test_closing_the_stream_stops_generation(plain, monkeypatch):
    """The request leaves its model's batch at the next step: no token follows but the one then under way."""
    requests, schedulers, submit, run = [], set(), Engine.submit, Scheduler._run

    def recorded(self, *args):
        requests.append(submit(self, *args))
        return requests[-1]

    def slow(self, *args):
        if self.loaded.model is plain.model:
            schedulers.add(self)
        time.sleep(0.02)  # 100 tokens take 2 s or more: the close lands long before the last
        return run(self, *args)

    monkeypatch.setattr(Engine, "submit", recorded)
    monkeypatch.setattr(Scheduler, "_run", slow)
    replies = stream(plain, "Hello", GenerationSettings(max_new_tokens=100, temperature=0, repetition_penalty=1.0))
    next(replies)
    replies.close()  # what Gradio does when the user presses Stop
    [request], [scheduler] = requests, schedulers
    produced_at_close = request.produced
    deadline = time.monotonic() + 30
    while (request in scheduler.running or request in scheduler.waiting) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert request not in scheduler.running and request not in scheduler.waiting  # it left its model's batch
    assert request.cancelled.is_set() and not request.done  # and neither ended by itself nor ran to 100 tokens
    assert produced_at_close <= request.produced <= produced_at_close + 1 < 100


def test_batched_generation_equals_one_by_one(plain):
    prompts = ["Hello", "Paris is the capital of", "Language models"]
    assert generate(plain, prompts, GREEDY) == [generate(plain, [p], GREEDY)[0] for p in prompts]


def test_same_seed_same_sampled_text(plain):
    settings = GenerationSettings(max_new_tokens=10, temperature=1.0, seed=7)
    assert generate(plain, ["Hello"], settings) == generate(plain, ["Hello"], settings)


@pytest.mark.parametrize(
    "settings",
    [
        GenerationSettings(max_new_tokens=0),
        GenerationSettings(max_new_tokens=10**6),
        GenerationSettings(temperature=-1),
        GenerationSettings(top_p=0),
        GenerationSettings(repetition_penalty=99),
        GenerationSettings(seed=-3),
        GenerationSettings(temperature=float("nan")),
    ],
)
def test_absurd_settings_are_refused_with_a_message(settings):
    with pytest.raises(InputError) as raised:
        settings.checked()
    assert raised.value.key == "bad_setting"


def test_a_system_prompt_longer_than_a_text_box_is_refused():
    with pytest.raises(InputError) as raised:
        GenerationSettings(system_prompt="s" * 20_001).checked()
    assert raised.value.key == "text_too_long" and raised.value.params["what"] == "system prompt"
    assert GenerationSettings(system_prompt="s" * 20_000).checked().system_prompt == "s" * 20_000


def test_token_logprobs_agree_with_the_model_loss(plain):
    text = "The quick brown fox jumps over the lazy dog."
    [result] = token_logprobs(plain, [text])
    ids = torch.tensor([[plain.tokenizer.bos_token_id] + plain.tokenizer(text)["input_ids"]])
    with torch.no_grad():
        loss = plain.model(input_ids=ids, labels=ids).loss
    assert -sum(result.logprobs) / len(result.logprobs) == pytest.approx(float(loss), rel=1e-4)
    assert perplexity([result]) == pytest.approx(float(loss.exp()), rel=1e-4)


def test_perplexity_is_token_weighted_across_texts(plain):
    results = token_logprobs(plain, ["short", "a much longer text with many more tokens in it"])
    nll = -sum(r.total for r in results) / sum(len(r.logprobs) for r in results)
    assert perplexity(results) == pytest.approx(float(torch.tensor(nll).exp()), rel=1e-6)
