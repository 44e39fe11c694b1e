"""The seam between tasks and models: an entry of models.yaml becomes one Model, and this is the one place that
decides whether its weights load here (LocalModel) or a server runs it (ServedModel, an entry with `endpoint`).

Everything above calls the Model's operations (base.py) and never asks which kind it holds.
"""

from __future__ import annotations

from typing import Any

from ..registry import ModelEntry, Registry
from .base import Model
from .cache import model_cache
from .hub import read_config
from .local.loaded import max_new_tokens
from .served.model import connect

__all__ = ["Model", "get_model", "longest_reply", "with_weights_here"]


def _served(entry: ModelEntry) -> bool:
    return bool(entry.endpoint)


def get_model(entry: ModelEntry, kind: str, **options: Any) -> Model:
    """The entry's model, loaded once into the cache; a served one is not cached, so it never evicts a loaded
    model, and connecting is one GET /v1/models, which also notices a server that changed. `options` are load
    options for weights here (attn_implementation, dtype)."""
    if _served(entry):
        return connect(entry, kind)
    return model_cache().get(entry, kind, **options)


def longest_reply(entry: ModelEntry) -> int | None:
    """The most tokens the entry's model can write after a one-token prompt, so the UI can size a slider before
    any weights load: from its config alone here, from the server's window for a served one; None when unknown."""
    if _served(entry):
        return get_model(entry, "causal-lm").token_limit - 1
    return max_new_tokens(read_config(entry))


def with_weights_here(registry: Registry) -> Registry:
    """The same deployment without its served models: for views and commands that need the weights in this
    process (attention maps, attributions, fine-tuning, fetching models ahead of time)."""
    kept = {task: [entry for entry in entries if not _served(entry)] for task, entries in registry.tasks.items()}
    return Registry(kept, registry.settings)
