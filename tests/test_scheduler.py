"""The scheduler driven step by step, without the engine's thread: rows of different lengths join and leave at
chosen steps, long prompts are prefilled in chunks between decoding steps, and every request still gets exactly
the tokens it gets alone; the cache's budget decides how many run, the others wait in line, told their place."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from helpers import entry
from twins import DEFAULT_MODELS, build_twin

from llm_demo.models.local import scheduler as scheduling
from llm_demo.models.local.model import load_model
from llm_demo.models.local.requests import Request
from llm_demo.models.local.sampling import seeded_generator
from llm_demo.models.local.scheduler import Scheduler, SoloScheduler, scheduler_for
from llm_demo.models.types import GenerationSettings

TWINS = {
    "gpt2": "openai-community/gpt2",
    "qwen2": "Qwen/Qwen2.5-0.5B-Instruct",
    "llama": "HuggingFaceTB/SmolLM2-360M-Instruct",
}
BUDGET = 2**30
PROMPTS = [
    "Hello",
    "Paris is the capital of France and",
    "The quick brown fox jumps over the lazy dog, then over the lazy cat, and then",
    "I loved",
    "Language models predict the next token of a text",
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("scheduler-twins")
    return {name: build_twin(DEFAULT_MODELS[model], "causal-lm", root / name) for name, model in TWINS.items()}


@pytest.fixture(scope="module", params=[torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def dtype(request) -> torch.dtype:
    return request.param


def loaded_twin(folders, name: str, dtype: torch.dtype):
    return load_model(entry(folders[name], name, "generation"), "causal-lm", dtype=dtype)


def greedy(tokens: int) -> GenerationSettings:
    return GenerationSettings(max_new_tokens=tokens, temperature=0, repetition_penalty=1.0)


def alone(loaded, ids: list[int], settings: GenerationSettings) -> list[int]:
    """What transformers' generate() gives this prompt on its own: the new ids, up to the end token."""
    options = {"do_sample": False} if settings.temperature == 0 else {}
    with torch.inference_mode():
        output = loaded.model.generate(
            input_ids=torch.tensor([ids]),
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            max_new_tokens=settings.max_new_tokens,
            repetition_penalty=settings.repetition_penalty,
            pad_token_id=loaded.tokenizer.pad_token_id,
            **options,
        )[0, len(ids) :].tolist()
    eos = loaded.model.generation_config.eos_token_id
    return output[: output.index(eos)] if eos in output else output


def drive(scheduler: Scheduler, arrivals: dict[int, list[tuple[list[int], GenerationSettings]]]) -> list[Request]:
    """Step `scheduler` until every request is done, submitting each arrival before its step."""
    requests, step = [], 0
    while step <= max(arrivals) or scheduler.has_work():
        for ids, settings in arrivals.get(step, []):
            requests.append(Request(ids, settings, seeded_generator(settings.seed)))
            scheduler.waiting.append(requests[-1])
        scheduler.step(scheduler.admit())
        step += 1
    return requests


def updates(request: Request) -> list:
    """Everything the request's reader was handed: lists of ids and places in line, in order."""
    got = []
    while not request.tokens.empty():
        got.append(request.tokens.get_nowait())
    return got


def tokens(request: Request) -> list[int]:
    return [token for piece in updates(request) if isinstance(piece, list) for token in piece]


def ids_of(loaded, prompt: str) -> list[int]:
    return loaded.tokenizer(prompt)["input_ids"]


@pytest.mark.parametrize("name", TWINS)
def test_rows_joining_and_leaving_at_different_steps_each_get_their_greedy_reply_alone(folders, dtype, name):
    loaded = loaded_twin(folders, name, dtype)
    lengths = [30, 7, 18, 25, 3]  # leave at different steps, so that rows move into the slots of those gone
    arrivals: dict[int, list] = {0: [], 2: [], 5: [], 9: []}
    for index, (prompt, tokens_asked) in enumerate(zip(PROMPTS, lengths)):
        arrivals[[0, 0, 2, 5, 9][index]].append((ids_of(loaded, prompt), greedy(tokens_asked)))
    scheduler = scheduler_for(loaded, BUDGET)
    assert type(scheduler) is Scheduler  # the slot cache, not one at a time
    requests = drive(scheduler, arrivals)
    assert [tokens(request) for request in requests] == [alone(loaded, r.ids, r.settings) for r in requests]
    assert scheduler.cache.buffer is None  # every stream ended: the cache is freed


def test_a_long_prompt_is_prefilled_in_chunks_while_the_running_rows_keep_decoding(folders, monkeypatch):
    loaded = loaded_twin(folders, "qwen2", torch.float32)
    monkeypatch.setattr(scheduling, "PREFILL_TOKENS", 8)
    passes: list[str] = []
    prefill, decode = Scheduler._prefill, Scheduler._decode
    monkeypatch.setattr(Scheduler, "_prefill", lambda self, joining: passes.append("prefill") or prefill(self, joining))
    monkeypatch.setattr(Scheduler, "_decode", lambda self, rows: passes.append(len(rows)) or decode(self, rows))
    long = ids_of(loaded, " ".join(PROMPTS))
    assert len(long) > 3 * 8
    requests = drive(
        Scheduler(loaded, BUDGET),
        {0: [(ids_of(loaded, "Hello"), greedy(20))], 2: [(long, greedy(10)), (ids_of(loaded, "I loved"), greedy(5))]},
    )
    chunks = -(-len(long) // 8)
    first_chunk = passes.index("prefill", 1)
    # the running row decoded after every chunk; the short prompt behind the long one waited its turn
    assert passes[first_chunk : first_chunk + 2 * chunks] == ["prefill", 1] * (chunks - 1) + ["prefill", 2]
    assert [tokens(request) for request in requests] == [alone(loaded, r.ids, r.settings) for r in requests]


def test_rows_beyond_the_cache_budget_wait_in_line_first_come_first_served_told_their_place(folders):
    loaded = loaded_twin(folders, "gpt2", torch.float32)
    probe = Scheduler(loaded, BUDGET)
    budget = probe.cache.bytes_for(8, 64)  # eight rows of up to 64 tokens
    prompts = [ids_of(loaded, prompt) for prompt in PROMPTS * 3][:11]
    scheduler = Scheduler(loaded, budget)
    rows_seen: list[int] = []
    decode = scheduler._decode
    scheduler._decode = lambda rows: rows_seen.append(len(rows)) or decode(rows)
    requests = drive(scheduler, {0: [(ids, greedy(20)) for ids in prompts]})
    assert max(rows_seen) == 8
    places = [[piece for piece in updates(request) if isinstance(piece, int)] for request in requests]
    assert places[:8] == [[]] * 8  # the first eight ran at once
    assert places[8:] == [[1], [2], [3]]  # the others were told their place, in the order they came
    assert [r.produced for r in requests] == [20] * 11


def test_a_place_in_line_moves_up_as_rows_free(folders):
    loaded = loaded_twin(folders, "gpt2", torch.float32)
    scheduler = Scheduler(loaded, Scheduler(loaded, BUDGET).cache.bytes_for(8, 64))
    short, long = ids_of(loaded, "Hello"), ids_of(loaded, "I loved")
    requests = drive(scheduler, {0: [(short, greedy(3))] + [(long, greedy(40))] * 7 + [(long, greedy(5))] * 3})
    # the short row frees a slot after 3 tokens, each of the 5-token ones after 5 more: the last moves up twice
    assert [piece for piece in updates(requests[-1]) if isinstance(piece, int)] == [3, 2, 1]


def test_a_request_cancelled_while_waiting_leaves_the_line(folders):
    loaded = loaded_twin(folders, "gpt2", torch.float32)
    scheduler = Scheduler(loaded, Scheduler(loaded, BUDGET).cache.bytes_for(8, 64))
    requests = [Request(ids_of(loaded, "Hello"), greedy(20), seeded_generator(0)) for _ in range(10)]
    scheduler.waiting.extend(requests)
    scheduler.step(scheduler.admit())
    requests[8].cancel()
    scheduler.step(scheduler.admit())
    assert requests[8] not in scheduler.waiting and updates(requests[8]) == [1, None]
    assert updates(requests[9]) == [2, 1]


def test_the_cache_grows_for_newcomers_and_shrinks_as_rows_leave(folders):
    loaded = loaded_twin(folders, "qwen2", torch.float32)
    scheduler = Scheduler(loaded, BUDGET)
    per_token = scheduler.cache.token_bytes
    sizes: list[int] = []
    step = scheduler.step
    scheduler.step = lambda joining: step(joining) or sizes.append(scheduler.cache.nbytes)
    drive(scheduler, {0: [(ids_of(loaded, "Hello"), greedy(100))], 1: [(ids_of(loaded, "I loved"), greedy(5))] * 39})
    assert sizes[0] == 8 * 128 * per_token  # one row's worth of slots (eight) and its 102 tokens, in 64s
    assert max(sizes) == 40 * 128 * per_token  # 40 rows
    assert sizes[-2] == 8 * 128 * per_token and sizes[-1] == 0  # one row left (four times too big: smaller), none


def test_a_model_whose_attention_ignores_the_mask_is_served_one_request_at_a_time(folders, monkeypatch):
    """If the slot cache gave a model other logits than plain forward passes, it would answer wrongly: it runs alone."""
    loaded = loaded_twin(folders, "qwen2", torch.float32)
    monkeypatch.setattr(scheduling, "_SLOTS_AGREE", scheduling.weakref.WeakKeyDictionary())
    monkeypatch.setattr(
        scheduling.SlotCache, "_additive", lambda self, sees: torch.zeros(sees.shape, dtype=self.dtype)
    )  # every token sees every other: rows mix
    scheduler = scheduler_for(loaded, BUDGET)
    assert type(scheduler) is SoloScheduler
    requests = drive(scheduler, {0: [(ids_of(loaded, prompt), greedy(12)) for prompt in PROMPTS[:3]]})
    assert [tokens(request) for request in requests] == [alone(loaded, r.ids, r.settings) for r in requests]
    assert scheduler.cache.buffer is None  # each row's keys and values were in the model's own cache


def test_sampled_rows_keep_their_own_settings_and_seeds_beside_greedy_ones(folders):
    loaded = loaded_twin(folders, "qwen2", torch.float32)
    sampled = GenerationSettings(max_new_tokens=15, temperature=0.8, top_p=0.9, repetition_penalty=1.3, seed=7)
    hello = ids_of(loaded, "Hello")
    together = drive(Scheduler(loaded, BUDGET), {0: [(hello, sampled), (hello, greedy(15))], 3: [(hello, sampled)]})
    by_itself = drive(Scheduler(loaded, BUDGET), {0: [(hello, sampled)]})
    got = [tokens(request) for request in together]
    assert got[0] == got[2] == tokens(by_itself[0]) != got[1]
    assert got[1] == alone(loaded, hello, greedy(15))


def test_a_reader_takes_the_first_token_at_once_then_updates_at_its_pace_and_the_end_at_once():
    request = Request([1], greedy(4), seeded_generator(0))
    request.pace = 0.5  # as with 20 rows in the batch
    request.tokens.put([5])
    updates, started = request.updates(), time.monotonic()
    assert next(updates) == [5] and time.monotonic() - started < 0.1
    for piece in ([6], [7]):
        request.tokens.put(piece)
    assert next(updates) == [6, 7] and time.monotonic() - started >= 0.5  # two steps' tokens in one update
    request.tokens.put([8])
    threading.Timer(0.05, request.end).start()
    started = time.monotonic()
    assert next(updates) == [8] and next(updates, "ended") == "ended"
    assert time.monotonic() - started < 0.3  # the last tokens did not wait out the pace


@pytest.mark.parametrize("name", ["gpt2", "qwen2"])
def test_a_prompt_a_row_already_holds_is_copied_not_prefilled_and_answered_as_alone(folders, dtype, name, monkeypatch):
    loaded = loaded_twin(folders, name, dtype)
    packed, packing = [], scheduling.SlotCache.packing
    monkeypatch.setattr(
        scheduling.SlotCache, "packing", lambda self, *plan: packed.append(plan[1]) or packing(self, *plan)
    )
    example, other = ids_of(loaded, PROMPTS[1]), ids_of(loaded, PROMPTS[3])
    sampled = GenerationSettings(max_new_tokens=12, temperature=0.9, seed=3)
    arrivals = {0: [(example, greedy(20)), (other, greedy(20)), (example, greedy(9))], 4: [(example, sampled)]}
    requests = drive(Scheduler(loaded, BUDGET), arrivals)
    assert packed == [[len(example), len(other)]]  # the example computed once, though three asked for it
    assert [tokens(request) for request in requests[:3]] == [alone(loaded, r.ids, r.settings) for r in requests[:3]]
    assert tokens(requests[3]) == tokens(drive(Scheduler(loaded, BUDGET), {0: [(example, sampled)]})[0])
