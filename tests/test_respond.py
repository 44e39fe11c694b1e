"""Model.respond (conversations answered whole through the continuous-batching engine) and
continuation_logprobs (how a judge's score is read from its probabilities), on the tiny GPT-2s."""

from __future__ import annotations

import time

import pytest
import torch

from llm_demo.errors import ModelError
from llm_demo.models.local import generate
from llm_demo.models.local.engine import engine
from llm_demo.models.types import GenerationSettings, as_messages, in_input_order, whole_reply

GREEDY = GenerationSettings(max_new_tokens=12, temperature=0, repetition_penalty=1.0)
PROMPTS = [f"Question {i}: {'why ' * (i % 5)}is the sky blue?" for i in range(10)]


@pytest.fixture(scope="module")
def chat(load):
    return load("generation", "Tiny chat GPT-2", "causal-lm")


def test_replies_equal_one_conversation_at_a_time(chat, monkeypatch):
    monkeypatch.setattr(generate, "AHEAD", 3)  # fewer queued than conversations: the queue refills as rows finish
    conversations = [as_messages(prompt, "Be brief." if i % 2 else None) for i, prompt in enumerate(PROMPTS)]
    together = in_input_order(len(conversations), chat.respond(conversations, GREEDY))
    alone = [whole_reply(chat.stream_chat(messages, GREEDY)) for messages in conversations]
    assert together == alone
    assert len(set(together)) > 1  # different prompts, different replies: the rows were not mixed up


def test_a_plain_model_continues_the_turns_text(plain):
    conversations = [as_messages(prompt, "System words.") for prompt in PROMPTS[:3]]
    replies = in_input_order(3, plain.respond(conversations, GREEDY))
    assert replies == [whole_reply(plain.stream(f"System words.\n\n{prompt}", GREEDY)) for prompt in PROMPTS[:3]]


def test_a_conversation_too_long_is_that_rows_error(chat):
    conversations = [as_messages("short"), as_messages("long " * 400), as_messages("also short")]
    results = dict(pair for indices, batch in chat.respond(conversations, GREEDY) for pair in zip(indices, batch))
    assert isinstance(results[1], ModelError) and results[1].key == "prompt_too_long"
    assert isinstance(results[0], str) and isinstance(results[2], str)


def test_closing_cancels_the_queued_requests(chat):
    replies = chat.respond([as_messages(prompt) for prompt in PROMPTS], GREEDY)
    next(replies)
    replies.close()
    deadline = time.monotonic() + 10  # the engine drops a model's batch once nothing is left to do
    while engine().busy_models() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine().busy_models() == 0


def test_continuations_scored_as_one_unpadded_forward_pass_would(plain):
    messages = as_messages("Rate the answer.")
    start, continuations = "The rating is [[", ["1]]", "7]]", "10]]"]
    scored = plain.continuation_logprobs(messages, start, continuations)
    tokenizer = plain.tokenizer
    prefix = generate.conversation_ids(plain, messages) + tokenizer(start, add_special_tokens=False)["input_ids"]
    for text, value in zip(continuations, scored):
        tail = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prefix + tail])
        with torch.inference_mode():
            logprobs = plain.model(input_ids=ids).logits.float().log_softmax(-1)[0]
        expected = sum(float(logprobs[len(prefix) - 1 + i, token]) for i, token in enumerate(tail))
        assert value == pytest.approx(expected, abs=1e-3)
    assert len(set(scored)) == 3
