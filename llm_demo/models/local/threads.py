"""Where torch work outside the generation engine runs: never on a thread that outlives it for long.

torch's CPU ops run on OpenMP (libgomp), which gives every thread that starts a parallel region a team of
worker threads, kept for as long as that thread lives. Once all the teams together hold more threads than
the machine has cores, libgomp stops spinning between parallel regions and each region pays to wake its
sleeping workers. Gradio's worker threads live on after a request, so a model loaded or a batch classified
on one of them left a team behind, and from then on every decoding step of the engine (tasks/scheduler.py),
a few hundred parallel regions, ran a quarter to a third slower on 2 cores.

So batches run on one batch thread, which ends once it has had nothing to do for a second, and model loads
(seconds long, downloads included, and not to hold up anyone's batches) on a thread of their own that
ends with the load. The engine's thread keeps the one team that lives on. Batches asked for on the main
thread run there: a script or the command line does its torch work on it anyway, so moving it would only
add a team, and the app's main thread only serves the page.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Result = TypeVar("Result")

BATCH_THREAD_IDLE_SECONDS = 1.0  # a burst of requests reuses the thread (and its team); a quiet second ends it


def on_fresh_thread(work: Callable[[], Result]) -> Result:
    """`work()` on a new thread that ends before this returns: its result, or its exception raised here.

    The caller's context variables (who is watching a model load, for one) go with it. A new thread and
    its OpenMP team cost a millisecond or more, nothing beside a model load.
    """
    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm_demo-load") as pool:
        return pool.submit(context.run, work).result()


class _BatchThread:
    """One thread that runs the batches handed to it in turn, started on demand and ended when idle.

    Batches from several requests take turns rather than run side by side: on the CPU, two batches at once
    each get half the cores and oversubscribe OpenMP's threads, so taking turns loses nothing.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()  # `_thread` changes only under it, and so does the decision to end
        self._thread: threading.Thread | None = None

    def run(self, work: Callable[[], Result]) -> Result:
        if threading.current_thread() in (self._thread, threading.main_thread()):
            return work()  # the main thread's own work, or a batch that runs batches of its own
        done: Future = Future()
        with self._lock:
            self._jobs.put((contextvars.copy_context(), work, done))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="llm_demo-batches", daemon=True)
                self._thread.start()
        return done.result()

    def _serve(self) -> None:
        while True:
            try:
                context, work, done = self._jobs.get(timeout=BATCH_THREAD_IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._thread = None
                        return
                continue
            try:
                done.set_result(context.run(work))
            except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
                done.set_exception(error)


_batches = _BatchThread()


def on_batch_thread(work: Callable[[], Result]) -> Result:
    """`work()` on the batch thread, with the caller's context variables: its result, or its exception."""
    return _batches.run(work)
