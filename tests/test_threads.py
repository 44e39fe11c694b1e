"""Torch work outside the generation engine leaves no OpenMP team behind on the caller's thread (llm_demo/threads.py)."""

from __future__ import annotations

import contextvars
import subprocess
import sys
import textwrap
import threading

import pytest

from llm_demo.batching import in_input_order, run_in_batches
from llm_demo.loading import ModelCache
from llm_demo.registry import ModelEntry
from llm_demo.threads import on_fresh_thread

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


def test_an_error_in_the_work_is_raised_to_the_caller():
    def work() -> None:
        raise MemoryError("out of memory")

    with pytest.raises(MemoryError, match="out of memory"):
        on_fresh_thread(work)


def test_every_batch_and_every_model_load_runs_off_the_callers_thread(monkeypatch):
    threads = []

    def process(batch: list[str]) -> list[str]:
        threads.append(threading.current_thread())
        return [text.upper() for text in batch]

    texts = ["ccc", "a", "bbbbb", "dd"]
    assert in_input_order(len(texts), run_in_batches(texts, [len(t) for t in texts], process, budget=6)) == \
        ["CCC", "A", "BBBBB", "DD"]
    monkeypatch.setattr("llm_demo.loading.load_model", lambda *args, **kwargs: threads.append(
        threading.current_thread()) or "a model")
    assert ModelCache(capacity=1).get(ModelEntry("some/model", "x", "sentiment"), "sequence-classification") == \
        "a model"
    assert len(threads) == 4 and all(thread is not threading.current_thread() and not thread.is_alive()
                                     for thread in threads)


OPENMP_THREADS_LEFT = textwrap.dedent("""
    import os, sys, threading, time, torch
    from llm_demo.batching import in_input_order, run_in_batches

    def os_threads():
        return len(os.listdir("/proc/self/task"))

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
        deadline = time.monotonic() + 3  # an ended team's workers leave soon after, not at once
        while os_threads() - before - 1 > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        counted.append(os_threads() - before - 1)  # threads left besides the worker itself
        leave.set()
        thread.join()
        return counted[0]

    direct = on_a_long_lived_thread(lambda: multiply([0]))
    batched = on_a_long_lived_thread(lambda: in_input_order(1, run_in_batches([0], [1], multiply, budget=8)))
    print(direct, batched)
""")


def test_a_batch_leaves_no_openmp_threads_behind_on_a_long_lived_thread():
    """A thread that multiplies directly keeps torch's OpenMP team (the control); run as a batch, nothing stays."""
    import torch

    if torch.get_num_threads() < 2:
        pytest.skip("one torch thread: OpenMP starts no team")
    result = subprocess.run([sys.executable, "-c", OPENMP_THREADS_LEFT], capture_output=True, text=True,
                            timeout=120, check=True)
    direct, batched = map(int, result.stdout.split())
    assert direct == torch.get_num_threads() - 1  # the control: the team's workers stay with the thread
    assert batched == 0
