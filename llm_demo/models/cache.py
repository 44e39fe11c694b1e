"""The one process-wide cache of loaded models: bounded, locked, and each model loaded once however many ask."""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from typing import Any

import torch

from ..registry import ModelEntry
from ..settings import get_settings
from .local.model import LocalModel, load_model
from .local.threads import on_fresh_thread


class ModelCache:
    """Loaded models, least recently used evicted past `capacity`; each model loads once however many ask."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._models: OrderedDict[tuple, LocalModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}
        self.loads = 0  # how many real loads happened: lets tests see that concurrent asks loaded once

    def get(self, entry: ModelEntry, kind: str, **options: Any) -> LocalModel:
        key = (entry.model, entry.revision, kind, tuple(sorted(options.items())))
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            loaded = on_fresh_thread(lambda: load_model(entry, kind, **options))  # leaves no OpenMP team behind
            with self._lock:
                self.loads += 1
                self._models[key] = loaded
                self._loading.pop(key, None)
                evicted = self._evict_past_capacity()
        if evicted:
            _release_memory()
        return loaded

    def _evict_past_capacity(self) -> int:
        evicted = 0
        while len(self._models) > self.capacity:
            self._models.popitem(last=False)
            evicted += 1
        return evicted

    def loaded_ids(self) -> list[str]:
        with self._lock:
            return [key[0] for key in self._models]

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
        _release_memory()


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


_cache: ModelCache | None = None
_cache_lock = threading.Lock()


def model_cache() -> ModelCache:
    """The process-wide cache, sized by $LLM_DEMO_CACHE_SIZE when first used."""
    global _cache
    with _cache_lock:
        if _cache is None:
            _cache = ModelCache(get_settings().cache_size)
        return _cache
