"""Torch work outside the generation engine leaves no OpenMP team behind on a long-lived thread
(llm_demo/models/local/threads.py)."""

from __future__ import annotations

import contextvars
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import entry

from llm_demo.models.cache import ModelCache
from llm_demo.models.local import threads
from llm_demo.models.local.batching import run_in_batches
from llm_demo.models.local.threads import on_batch_thread, on_fresh_thread
from llm_demo.models.types import in_input_order

WATCHED = contextvars.ContextVar("watched", default=None)


def test_work_runs_on_a_thread_that_has_ended_and_sees_the_callers_context():
    seen = {}

    def work() -> str:
        seen["thread"], seen["watched"] = threading.current_thread(), WATCHED.get()
        return "done"

    WATCHED.set("the caller's listener")
    assert on_fresh_thread(work) == "done"
    assert seen["thread"] is not threading.current_thread() and not seen["thread"].is_alive()
    assert seen["watched"] == "the caller's listener"


@pytest.mark.parametrize("run", [on_fresh_thread, on_batch_thread])
def test_an_error_in_the_work_is_raised_to_the_caller(run):
    def work() -> None:
        raise MemoryError("out of memory")

    with pytest.raises(MemoryError, match="out of memory"):
        on_worker(lambda: run(work))


@pytest.fixture
def quick_to_idle(monkeypatch):
    monkeypatch.setattr(threads, "BATCH_THREAD_IDLE_SECONDS", 0.05)


def test_batches_take_turns_on_one_thread_that_ends_when_idle_and_model_loads_get_their_own(monkeypatch, quick_to_idle):
    batch_threads, load_threads = [], []

    def process(batch: list[str]) -> list[str]:
        batch_threads.append(threading.current_thread())
        return [text.upper() for text in batch]

    texts = ["ccc", "a", "bbbbb", "dd"]
    monkeypatch.setattr(
        "llm_demo.models.cache.load_model",
        lambda *args, **kwargs: load_threads.append(threading.current_thread()) or "a model",
    )

    def request() -> None:  # on a Gradio worker thread, which lives on
        assert in_input_order(len(texts), run_in_batches(texts, [len(t) for t in texts], process, budget=6)) == [
            "CCC",
            "A",
            "BBBBB",
            "DD",
        ]
        assert ModelCache(capacity=1).get(entry("some/model", "x", "sentiment"), "sequence-classification") == "a model"

    on_worker(request)
    assert len(batch_threads) == 3 and len(set(batch_threads)) == 1
    assert load_threads[0] not in batch_threads and not load_threads[0].is_alive()
    batch_threads[0].join(timeout=5)  # idle for 50 ms, it ends
    assert not batch_threads[0].is_alive()
    assert on_worker(lambda: on_batch_thread(threading.current_thread)) is not batch_threads[0]  # a new one


def on_worker(work):
    """`work()` on a thread other than the main one and the batch thread, like a Gradio worker's."""
    with ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(work).result()


def test_batches_asked_for_on_the_main_thread_run_there():
    assert on_batch_thread(threading.current_thread) is threading.main_thread()


def test_a_batch_that_runs_batches_of_its_own_runs_them_in_place():
    def outer() -> list[str]:
        return in_input_order(2, run_in_batches(["a", "b"], [1, 1], lambda batch: [t * 2 for t in batch], budget=1))

    assert on_batch_thread(outer) == ["aa", "bb"]


def test_batches_from_many_callers_at_once_each_get_their_own_results():
    results, ran_on = {}, set()

    def caller(index: int) -> None:
        results[index] = [
            on_batch_thread(lambda step=step: ran_on.add(threading.current_thread()) or (index, step))
            for step in range(20)
        ]

    callers = [threading.Thread(target=caller, args=(index,)) for index in range(8)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    assert results == {index: [(index, step) for step in range(20)] for index in range(8)}
    assert threading.main_thread() not in ran_on and not ran_on & set(callers)


OPENMP_THREADS_LEFT = textwrap.dedent("""
    import os, sys, threading, time, torch
    from llm_demo.models.local.batching import run_in_batches
    from llm_demo.models.types import in_input_order

    def os_threads():
        return set(os.listdir("/proc/self/task"))

    def multiply(batch):
        return [float((torch.ones(512, 512) @ torch.ones(512, 512)).sum()) for _ in batch]

    def on_a_long_lived_thread(work):
        # A Gradio worker: it runs a request, then lives on waiting for the next.
        done, leave, counted = threading.Event(), threading.Event(), []
        def worker():
            work()
            done.set()
            leave.wait()
        thread = threading.Thread(target=worker)
        before = os_threads()
        thread.start()
        done.wait()
        # Threads started since, besides the worker itself: counting new ids rather than all threads, so that a
        # thread from before (the control's OpenMP team) ending meanwhile does not hide one left behind.
        def left():
            return len(os_threads() - before) - 1

        deadline = time.monotonic() + 10  # the batch thread ends after a second idle, its team soon after
        while left() > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        counted.append(left())
        leave.set()
        thread.join()
        return counted[0]

    direct = on_a_long_lived_thread(lambda: multiply([0]))
    batched = on_a_long_lived_thread(lambda: in_input_order(1, run_in_batches([0], [1], multiply, budget=8)))
    print(direct, batched)
""")


def test_a_batch_leaves_no_openmp_threads_behind_on_a_long_lived_thread():
    """A thread that multiplies directly keeps torch's OpenMP team (the control); as a batch, nothing stays
    once the batch thread has been idle for a second."""
    import torch

    if torch.get_num_threads() < 2:
        pytest.skip("one torch thread: OpenMP starts no team")
    result = subprocess.run(
        [sys.executable, "-c", OPENMP_THREADS_LEFT], capture_output=True, text=True, timeout=120, check=True
    )
    direct, batched = map(int, result.stdout.split())
    assert (direct, batched) == (torch.get_num_threads() - 1, 0), result.stdout  # direct: the team stays
