"""The loading layer: one load per model however many ask, a bounded cache, readable failures."""

from __future__ import annotations

import threading

import pytest
import torch
from helpers import entry

from llm_demo.errors import ModelError
from llm_demo.models import devices, get_model
from llm_demo.models.cache import ModelCache
from llm_demo.models.devices import pick_dtype
from llm_demo.models.hub import explain_load_error


def test_concurrent_requests_for_one_model_load_it_once(tiny):
    cache = ModelCache(capacity=2)
    results, start = [], threading.Barrier(6)

    def ask():
        start.wait()
        results.append(cache.get(entry(tiny.sentiment), "sequence-classification"))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.loads == 1
    assert len({id(loaded.model) for loaded in results}) == 1


def test_least_recently_used_model_is_evicted_past_capacity(tiny):
    cache = ModelCache(capacity=2)
    cache.get(entry(tiny.sentiment), "sequence-classification")
    cache.get(entry(tiny.nli), "sequence-classification")
    cache.get(entry(tiny.sentiment), "sequence-classification")  # now the most recently used
    cache.get(entry(tiny.qa), "question-answering")
    assert cache.loaded_ids() == [str(tiny.sentiment), str(tiny.qa)]
    assert cache.loads == 3


@pytest.mark.parametrize("has_bf16, dtype", [(True, "bfloat16"), (False, "float32")])
def test_a_cpu_runs_bf16_only_with_bf16_instructions_and_reports_where_it_runs(tiny, monkeypatch, has_bf16, dtype):
    """Both kinds of CPU on any machine: whether this one has the instructions is simulated."""
    monkeypatch.delenv("LLM_DEMO_DTYPE", raising=False)
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: has_bf16)
    assert pick_dtype(torch.device("cpu")) == getattr(torch, dtype)
    loaded = ModelCache(1).get(entry(tiny.sentiment), "sequence-classification")
    assert loaded.device.type == "cpu" and loaded.dtype == getattr(torch, dtype)
    assert {parameter.dtype for parameter in loaded.model.parameters()} == {getattr(torch, dtype)}
    assert f"cpu · {dtype} · loaded in" in loaded.describe()


def test_a_dtype_load_option_overrides_the_setting_and_is_cached_apart(tiny, monkeypatch):
    monkeypatch.setenv("LLM_DEMO_DTYPE", "bfloat16")
    cache = ModelCache(capacity=2)
    default = cache.get(entry(tiny.sentiment), "sequence-classification")
    full = cache.get(entry(tiny.sentiment), "sequence-classification", dtype=torch.float32)
    assert (default.dtype, full.dtype) == (torch.bfloat16, torch.float32)
    assert {parameter.dtype for parameter in full.model.parameters()} == {torch.float32}
    assert cache.get(entry(tiny.sentiment), "sequence-classification", dtype=torch.float32) is full
    assert cache.loads == 2


def test_a_model_of_the_wrong_architecture_is_refused(tiny):
    with pytest.raises(ModelError) as raised:
        ModelCache(1).get(entry(tiny.bart, task="qa"), "question-answering")
    assert raised.value.key == "wrong_kind"
    assert "extractive question answering" in str(raised.value)


def test_a_checkpoint_without_the_task_head_is_refused(tiny):
    """A masked-LM checkpoint would load as a classifier with a random head: a silent wrong answer."""
    with pytest.raises(ModelError) as raised:
        ModelCache(1).get(entry(tiny.mlm), "sequence-classification")
    assert raised.value.key == "wrong_kind"


def test_unreachable_hub_fails_fast_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError) as raised:
        ModelCache(1).get(entry("someone/not-cached-model", "x", "qa"), "question-answering")
    assert raised.value.key == "hub_unreachable"


def test_load_errors_are_explained_by_kind():
    class RepositoryNotFoundError(Exception):
        pass

    wrapped = OSError("boom")
    wrapped.__cause__ = RepositoryNotFoundError()
    assert explain_load_error("a/b", "seq2seq", wrapped).key == "unknown_model"
    assert explain_load_error("a/b", "seq2seq", MemoryError()).key == "out_of_memory"
    assert explain_load_error("a/b", "seq2seq", OSError("something odd")).key == "load_failed"


def test_different_models_requested_at_once_all_load(tiny):
    """from_pretrained is not thread-safe; concurrent loads of different models must still all succeed."""
    cache = ModelCache(capacity=4)
    wanted = [
        (tiny.gpt2, "causal-lm"),
        (tiny.sentiment, "sequence-classification"),
        (tiny.qa, "question-answering"),
        (tiny.bart, "seq2seq"),
    ]
    errors, start = [], threading.Barrier(len(wanted))

    def ask(path, kind):
        start.wait()
        try:
            cache.get(entry(path), kind)
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=ask, args=pair) for pair in wanted]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and cache.loads == 4


def test_token_limit_is_the_smaller_of_positions_and_tokenizer_limit(tiny):
    gpt2 = get_model(entry(tiny.gpt2, task="generation"), "causal-lm")
    assert gpt2.model.config.n_positions == 256 and gpt2.tokenizer.model_max_length == 128
    assert gpt2.token_limit == 128
    bert = get_model(entry(tiny.sentiment), "sequence-classification")
    assert bert.token_limit == 512
