"""Streams that overlap in time share decoding steps (continuous batching) yet each gets exactly its own reply."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import torch
from helpers import entry
from tiny_models import byte_level_tokenizer, save_qwen2

from llm_demo.errors import ModelError
from llm_demo.models import get_model
from llm_demo.models.local.engine import engine
from llm_demo.models.local.generate import _replies, before_stop, prompt_ids
from llm_demo.models.local.kv_cache import SlotCache
from llm_demo.models.local.scheduler import Scheduler
from llm_demo.tasks.generation import GenerationSettings, generate, stream

PROMPTS = ["Hello", "Paris is the capital of France and", "The quick brown fox jumps over the lazy", "I loved"]


def greedy(tokens: int) -> GenerationSettings:
    return GenerationSettings(max_new_tokens=tokens, temperature=0, repetition_penalty=1.0)


@pytest.fixture(scope="module")
def qwen2(tmp_path_factory):
    """A tiny Qwen2 (rotary positions, grouped-query attention), the shape the benchmark uses."""
    folder = save_qwen2(
        tmp_path_factory.mktemp("tiny-qwen2"),
        byte_level_tokenizer(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return get_model(entry(folder, "Tiny Qwen2", "generation"), "causal-lm")


@pytest.fixture
def merges(monkeypatch) -> list[int]:
    """Slow each pass a little, so streams started a few tokens apart surely overlap; count rows decoded together."""
    run, decode = Scheduler._run, Scheduler._decode
    together: list[int] = []

    def slow_run(self, *args):
        time.sleep(0.01)
        return run(self, *args)

    def counted_decode(self, rows):
        together.append(len(rows))
        return decode(self, rows)

    monkeypatch.setattr(Scheduler, "_run", slow_run)
    monkeypatch.setattr(Scheduler, "_decode", counted_decode)
    return together


def staggered(streams: list[Iterator[str]], head_start: int = 3) -> list[str]:
    """Start each stream after the one before has shown `head_start` pieces, then read all to the end."""
    last = [""] * len(streams)
    for index, replies in enumerate(streams):
        for _ in range(head_start):
            last[index] = next(replies, last[index])
    for index, replies in enumerate(streams):
        for text in replies:
            last[index] = text
    return last


def streams_of(loaded, prompts: list[str], settings: list[GenerationSettings]) -> list[Iterator[str]]:
    return [stream(loaded, prompt, setting) for prompt, setting in zip(prompts, settings)]


@pytest.mark.parametrize("model", ["plain", "qwen2"])
def test_overlapping_streams_each_get_exactly_their_own_greedy_reply(model, request, merges):
    loaded = request.getfixturevalue(model)
    settings = [greedy(tokens) for tokens in (60, 40, 50, 30)]
    alone = [generate(loaded, [prompt], setting)[0] for prompt, setting in zip(PROMPTS, settings)]
    assert staggered(streams_of(loaded, PROMPTS, settings)) == alone
    assert max(merges) == 4  # all four shared the batch at some step


def joining_together(loaded, prompts: list[str], settings: GenerationSettings) -> list[str]:
    """Submit every prompt before the engine's next step, so that they are prefilled in one pass."""
    with engine()._work:  # the engine admits waiting requests under this lock
        requests = [engine().submit(loaded, prompt_ids(loaded, prompt), settings) for prompt in prompts]
    return [list(_replies(loaded.tokenizer, request, ()))[-1] for request in requests]


@pytest.mark.parametrize("model", ["plain", "qwen2"])
def test_prompts_of_different_lengths_joining_together_are_packed_unpadded(model, request, monkeypatch):
    loaded = request.getfixturevalue(model)
    packed, packing = [], SlotCache.packing
    monkeypatch.setattr(
        SlotCache, "packing", lambda self, slots, counts: packed.append(counts) or packing(self, slots, counts)
    )
    alone = [generate(loaded, [prompt], greedy(25))[0] for prompt in PROMPTS]
    assert joining_together(loaded, PROMPTS, greedy(25)) == alone
    lengths = sorted(len(prompt_ids(loaded, prompt)) for prompt in PROMPTS)
    assert sorted(packed[-1]) == lengths and len(set(lengths)) > 1  # the last prefill packed all four


def test_a_room_arriving_a_few_milliseconds_apart_at_an_idle_model_shares_its_first_prefill(qwen2, monkeypatch):
    packed, packing = [], SlotCache.packing
    monkeypatch.setattr(
        SlotCache, "packing", lambda self, slots, counts: packed.append(counts) or packing(self, slots, counts)
    )
    alone = [generate(qwen2, [prompt], greedy(10))[0] for prompt in PROMPTS]
    packed.clear()
    requests = []
    for prompt in PROMPTS:  # as presses of Generate cross Gradio's queue: a few milliseconds apart
        requests.append(engine().submit(qwen2, prompt_ids(qwen2, prompt), greedy(10)))
        time.sleep(0.004)
    assert [list(_replies(qwen2.tokenizer, request, ()))[-1] for request in requests] == alone
    assert len(packed) == 1 and len(packed[0]) == len(PROMPTS)  # one prefill for the four


def test_stopping_one_stream_leaves_the_others_running_to_their_full_reply(plain, merges):
    settings = [greedy(60)] * 3
    streams = streams_of(plain, PROMPTS[:3], settings)
    for replies in streams:
        next(replies)
    streams[1].close()  # what Gradio does when this user presses Stop
    finished = [list(replies)[-1] for replies in (streams[0], streams[2])]
    assert finished == [generate(plain, [PROMPTS[0]], settings[0])[0], generate(plain, [PROMPTS[2]], settings[2])[0]]
    assert max(merges) == 3


def test_a_stopped_stream_frees_its_row_at_once(plain, merges):
    replies = stream(plain, "Hello", greedy(100))
    next(replies)
    replies.close()
    deadline = time.monotonic() + 5
    while engine().busy_models() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine().busy_models() == 0


def test_a_seed_reproduces_a_sampled_reply_whoever_shares_the_batch(plain, merges):
    sampled = GenerationSettings(max_new_tokens=30, temperature=1.0, top_p=0.9, seed=7)
    alone = list(stream(plain, "Hello", sampled))[-1]
    together = staggered(
        streams_of(
            plain,
            ["Hello", "I loved", "Hello"],
            [sampled, GenerationSettings(max_new_tokens=40, temperature=1.0, seed=1), sampled],
        )
    )
    assert together[0] == together[2] == alone
    assert max(merges) == 3


def test_each_stream_keeps_its_own_max_new_tokens(plain, merges):
    settings = [greedy(50), greedy(3)]
    texts = staggered(streams_of(plain, ["Hello", "Hello"], settings), head_start=1)
    assert texts == [generate(plain, ["Hello"], settings[0])[0], generate(plain, ["Hello"], settings[1])[0]]
    assert len(plain.tokenizer(texts[1])["input_ids"]) <= 3 < len(plain.tokenizer(texts[0])["input_ids"])


def test_a_failing_step_ends_its_streams_with_a_clear_error_and_the_next_one_runs(plain, monkeypatch):
    run = Scheduler._run

    def out_of_memory(self, *args):
        raise torch.OutOfMemoryError("CPU out of memory")

    monkeypatch.setattr(Scheduler, "_run", out_of_memory)
    with pytest.raises(ModelError) as raised:
        list(stream(plain, "Hello", greedy(10)))
    assert raised.value.key == "out_of_memory"
    monkeypatch.setattr(Scheduler, "_run", run)
    assert list(stream(plain, "Hello", greedy(10)))[-1] == generate(plain, ["Hello"], greedy(10))[0]


def test_a_reply_ends_before_its_stop_string_which_never_shows_in_part(plain):
    full = generate(plain, ["The quick brown fox"], greedy(20))[0]
    stop = full[6:10]
    assert full.index(stop) > 0
    settings = GenerationSettings(max_new_tokens=20, temperature=0, repetition_penalty=1.0, stop=(stop,))
    pieces = list(stream(plain, "The quick brown fox", settings))
    assert pieces[-1] == full[: full.index(stop)] == generate(plain, ["The quick brown fox"], settings)[0]
    assert not any(piece.endswith(stop[:2]) for piece in pieces)


def test_before_stop_cuts_at_the_earliest_stop_string():
    assert before_stop("a b. c\nd", ("\n", ". ")) == ("a b", True)
    assert before_stop("no stop here", ("###",)) == ("no stop here", False)


def test_streams_from_two_clients_at_once_each_get_their_own_reply(app_url, load):
    from gradio_client import Client

    plain = load("generation", "Tiny GPT-2", "causal-lm")
    jobs = [
        Client(app_url, verbose=False).submit(prompt, "Tiny GPT-2", "", 40, 0, 1, 1, None, api_name="/generate")
        for prompt in PROMPTS[:2]
    ]
    texts = [job.result()[0] for job in jobs]
    assert texts == [generate(plain, [prompt], greedy(40))[0] for prompt in PROMPTS[:2]]


def test_threads_streaming_at_once_each_get_their_own_reply(plain):
    settings = greedy(40)
    results: dict[int, str] = {}

    def user(index: int) -> None:
        results[index] = list(stream(plain, PROMPTS[index], settings))[-1]

    threads = [threading.Thread(target=user, args=(index,)) for index in range(len(PROMPTS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [results[index] for index in range(len(PROMPTS))] == [generate(plain, [p], settings)[0] for p in PROMPTS]


def test_a_client_that_cancels_frees_its_row_while_another_finishes(app_url, load, merges):
    from gradio_client import Client

    plain = load("generation", "Tiny GPT-2", "causal-lm")
    cancelled, other = [
        Client(app_url, verbose=False).submit(prompt, "Tiny GPT-2", "", 100, 0, 1, 1, None, api_name="/generate")
        for prompt in ("Hello", "I loved")
    ]
    while not cancelled.outputs() or not cancelled.outputs()[-1][0]:
        time.sleep(0.01)
    cancelled.cancel()  # what the Stop button and a closed tab do
    assert other.result()[0] == generate(plain, ["I loved"], greedy(100))[0]
    deadline = time.monotonic() + 10
    while engine().busy_models() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engine().busy_models() == 0


def test_a_visitor_beyond_the_cache_budget_sees_its_place_in_line_then_its_reply(app_url, load, merges, monkeypatch):
    from gradio_client import Client

    from llm_demo.models.local import engine as engines

    plain = load("generation", "Tiny GPT-2", "causal-lm")
    deadline = time.monotonic() + 10
    while engine().busy_models() and time.monotonic() < deadline:  # the next scheduler reads the budget
        time.sleep(0.05)
    monkeypatch.setattr(engines, "kv_cache_budget", lambda loaded: 1)  # room for one row at a time
    first = Client(app_url, verbose=False).submit("Hello", "Tiny GPT-2", "", 100, 0, 1, 1, None, api_name="/generate")
    while not first.outputs() or not first.outputs()[-1][0]:
        time.sleep(0.01)
    second = Client(app_url, verbose=False).submit("I loved", "Tiny GPT-2", "", 20, 0, 1, 1, None, api_name="/generate")
    assert second.result()[0] == generate(plain, ["I loved"], greedy(20))[0]
    assert first.result()[0] == generate(plain, ["Hello"], greedy(100))[0]
    assert any("In line for the model: you are number 1" in status for _, status in second.outputs())
    assert max(merges) == 1
