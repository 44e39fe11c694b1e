"""Token-budget batching: less padding, input order kept, out-of-memory batches split."""

from __future__ import annotations

import pytest

from llm_demo.errors import ModelError
from llm_demo.models.local.batching import pad, process_halving_on_oom, run_in_batches, token_budget_batches
from llm_demo.models.types import in_input_order


def test_batches_stay_within_the_token_budget_and_cover_every_row_once():
    lengths = [5, 300, 7, 6, 120, 5, 8, 9, 250, 4]
    batches = token_budget_batches(lengths, budget=600)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 600 or len(batch) == 1
    assert batches[0] == [1, 8]  # longest first: 300 and 250 fit in 600 together


def test_a_row_longer_than_the_budget_gets_a_batch_of_its_own():
    assert token_budget_batches([1000, 3, 3], budget=100) == [[0], [1, 2]]


def test_results_come_back_in_input_order():
    texts = ["ccc", "a", "bbbbb", "dd"]
    batches = run_in_batches(texts, [len(t) for t in texts], lambda batch: [t.upper() for t in batch], budget=6)
    assert in_input_order(len(texts), batches) == ["CCC", "A", "BBBBB", "DD"]


def test_out_of_memory_halves_the_batch_and_still_returns_every_result():
    calls = []

    def process(batch):
        calls.append(len(batch))
        if len(batch) > 2:
            raise MemoryError
        return [x * 10 for x in batch]

    assert process_halving_on_oom(process, [1, 2, 3, 4, 5]) == [10, 20, 30, 40, 50]
    assert calls == [5, 2, 3, 1, 2]  # 5 fails, its halves 2 and 3; 3 fails, its halves 1 and 2


def test_out_of_memory_on_a_single_row_is_a_clear_error():
    def process(batch):
        raise MemoryError

    with pytest.raises(ModelError) as raised:
        process_halving_on_oom(process, [1])
    assert raised.value.key == "out_of_memory"


def test_padding_right_and_left():
    ids, mask = pad([[1, 2, 3], [4]], pad_id=0)
    assert ids.tolist() == [[1, 2, 3], [4, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = pad([[1, 2, 3], [4]], pad_id=0, left=True)
    assert ids.tolist() == [[1, 2, 3], [0, 0, 4]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_a_cpu_allocation_failure_halves_the_batch_like_a_cuda_one():
    calls = []

    def process(batch):
        calls.append(len(batch))
        if len(batch) > 1:  # torch's CPU allocator raises a plain RuntimeError
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 bytes.")
        return batch

    assert process_halving_on_oom(process, [1, 2, 3]) == [1, 2, 3]
    assert calls == [3, 1, 2, 1, 1]


def test_other_runtime_errors_are_not_taken_for_out_of_memory():
    def process(batch):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        process_halving_on_oom(process, [1, 2])


def test_batches_follow_a_given_order_and_split_a_group_too_wide_for_the_budget():
    lengths = [10, 10, 10, 10, 30, 30]  # a group of four short rows, then two long ones
    assert token_budget_batches(lengths, budget=30, order=range(6)) == [[0, 1, 2], [3], [4], [5]]
    assert token_budget_batches(lengths, budget=60, order=[0, 4, 1]) == [[0, 4], [1]]  # padded to the widest, 30
