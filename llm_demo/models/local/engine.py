"""The engine: one long-lived thread that steps every model's scheduler in turn.

On the CPU a fresh thread per request builds a new OpenMP team that competes with the old ones and halves
tokens per second; one thread that lives on keeps its team (and other torch work leaves no team behind to slow
it: threads.py). Each model keeps its own batch (its own scheduler), created on its first request, with a cache
budget read then, and dropped, with its cache, as soon as it has nothing to do.

The thread shares the GIL with Gradio's: a decoding step takes it back after each of its several hundred ops,
and waits while a thread streaming an update to a visitor holds it. Python lets a waiting thread ask for it
after 5 ms; the engine makes that 0.5 ms, which gave 8 visitors a quarter more tokens a second through the app.
vLLM keeps its engine in a process of its own; here the model is shared with every other tab.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from collections import deque

from ...settings import get_settings
from ..devices import free_memory
from ..types import GenerationSettings
from .loaded import LoadedModel
from .requests import Request
from .sampling import seeded_generator
from .scheduler import Scheduler, scheduler_for

FREE_MEMORY_SHARE = 4  # with LLM_DEMO_KV_CACHE_MB unset, the cache may take a quarter of the free memory
GIL_SWITCH_SECONDS = 0.0005
# A room pressing Generate together reaches an idle model over a few milliseconds (each press crosses Gradio's
# queue and a worker thread): its first step waits until none has come for GATHER_QUIET seconds, at most
# GATHER_MOST, so that one prefill serves them all instead of a first step for the first few and another,
# a prefill later, for the rest. A lone visitor waits GATHER_QUIET.
GATHER_QUIET, GATHER_MOST = 0.01, 0.05


class Engine:
    """Steps every model that has requests, in turn, on one long-lived thread."""

    def __init__(self) -> None:
        self._schedulers: dict[int, Scheduler] = {}  # by id(model): only while it has requests
        self._work = threading.Condition()
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        self._thread = threading.Thread(target=self._run, name="llm_demo-generate", daemon=True)
        self._thread.start()

    def submit(self, loaded: LoadedModel, ids: list[int], settings: GenerationSettings) -> Request:
        """Queue a request; it joins its model's batch at the next step that has room for it."""
        request = Request(list(ids), settings, seeded_generator(settings.seed))
        with self._work:
            key = id(loaded.model)
            if key not in self._schedulers:
                self._schedulers[key] = _Pending(loaded)
            self._schedulers[key].waiting.append(request)
            self._work.notify()
        return request

    def busy_models(self) -> int:
        with self._work:
            return len(self._schedulers)

    def _run(self) -> None:
        while True:
            with self._work:
                self._work.wait_for(lambda: self._schedulers)
                keys = list(self._schedulers)
            for key in keys:
                self._step(key)
            with self._work:
                for key in [key for key, scheduler in self._schedulers.items() if not scheduler.has_work()]:
                    del self._schedulers[key]

    def _step(self, key: int) -> None:
        scheduler = self._schedulers[key]
        if isinstance(scheduler, _Pending):  # built here: its first step checks the model, on this thread
            built = scheduler_for(scheduler.loaded, kv_cache_budget(scheduler.loaded))
            with self._work:
                built.waiting = scheduler.waiting
                self._schedulers[key] = scheduler = built
        if not scheduler.rows:
            self._gather(scheduler)
        with self._work:  # new requests join `waiting` under the same lock
            joining = scheduler.admit()
        scheduler.step(joining)

    def _gather(self, scheduler: Scheduler) -> None:
        """Before an idle model's first step, wait for the rest of a room arriving together (GATHER_QUIET)."""
        while True:
            with self._work:
                if not scheduler.waiting:
                    return
                now, first, last = time.monotonic(), scheduler.waiting[0].arrived, scheduler.waiting[-1].arrived
            wait = min(last + GATHER_QUIET, first + GATHER_MOST) - now
            if wait <= 0:
                return
            time.sleep(wait)


class _Pending:
    """A model's requests before its scheduler is built on the engine's thread."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.waiting: deque[Request] = deque()

    def has_work(self) -> bool:
        return True


def kv_cache_budget(loaded: LoadedModel) -> int:
    """Bytes the running rows' keys and values may take: LLM_DEMO_KV_CACHE_MB, or a share of the free memory."""
    megabytes = get_settings().kv_cache_mb
    return megabytes * 2**20 if megabytes else free_memory(loaded.device) // FREE_MEMORY_SHARE


@functools.cache
def engine() -> Engine:
    """The process-wide engine, started on the first streamed generation."""
    return Engine()
