"""Reaching the Hugging Face Hub: whether it answers, a model's config alone, downloads with progress a tab or a
terminal can show, and the many ways loading fails turned into one sentence a user can act on."""

from __future__ import annotations

import functools
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from ..errors import ModelError
from ..registry import ModelEntry
from ..settings import get_settings

KIND_WORDS = {
    "seq2seq": "translation (sequence-to-sequence)",
    "causal-lm": "text generation (causal language model)",
    "sequence-classification": "text classification",
    "question-answering": "extractive question answering",
    "masked-lm": "masked-word prediction",
    "encoder": "encoding text",
}

# transformers' lazy first import and parts of from_pretrained are not thread-safe: two models loaded
# at once can fail with "no attribute AutoModel…" or report missing weights. Loads are CPU- and
# disk-bound anyway, so they take turns; inference on loaded models still runs side by side.
ONE_LOAD_AT_A_TIME = threading.Lock()


def _hub_error_names(error: BaseException) -> set[str]:
    names = set()
    while error is not None:
        names.add(type(error).__name__)
        error = error.__cause__ or error.__context__
    return names


def explain_load_error(model_id: str, kind: str, error: BaseException) -> ModelError:
    """Turn the many ways from_pretrained fails into one sentence a user can act on."""
    names, text = _hub_error_names(error), str(error)
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return ModelError("out_of_memory", "Not enough memory to load '{model}'. Try a smaller model.", model=model_id)
    # A missing repository's message mentions "private or gated repo" too, so the error types decide first.
    gated = ModelError(
        "gated_model", "'{model}' is gated on the Hugging Face Hub and needs an access token.", model=model_id
    )
    if "GatedRepoError" in names:
        return gated
    if (
        {"RepositoryNotFoundError", "RevisionNotFoundError"} & names
        or "is not a valid model identifier" in text
        or "not a local folder" in text
    ):
        return ModelError(
            "unknown_model", "Model '{model}' was not found on the Hugging Face Hub or on disk.", model=model_id
        )
    if "gated" in text.lower():
        return gated
    if (
        {"LocalEntryNotFoundError", "ConnectError", "ConnectionError", "OfflineModeIsEnabled"} & names
        or "couldn't connect" in text.lower()
        or "offline" in text.lower()
    ):
        return ModelError(
            "hub_unreachable",
            "Cannot download '{model}': the Hugging Face Hub is unreachable and the model is not "
            "cached here. Check the connection or use a local model folder.",
            model=model_id,
        )
    if isinstance(error, (ValueError, KeyError)) and ("Unrecognized" in text or "configuration class" in text):
        return ModelError(
            "wrong_kind",
            "'{model}' cannot do {what}: it is a different kind of model.",
            model=model_id,
            what=KIND_WORDS[kind],
        )
    return ModelError(
        "load_failed",
        "Could not load '{model}': {reason}",
        model=model_id,
        reason=text.splitlines()[0][:300] if text else type(error).__name__,
    )


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick connection attempt, so an offline machine fails in seconds instead of minutes of retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)  # a mirror may serve plain HTTP elsewhere
    try:
        socket.create_connection((endpoint.hostname or "huggingface.co", port), timeout=timeout).close()
        return True
    except OSError:
        return False


def offline_options(entry: ModelEntry) -> dict[str, Any]:
    """Local folders need nothing; a Hub id without a network loads from the local cache or fails clearly."""
    if Path(entry.model).is_dir() or hub_reachable():
        return {}
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(entry.model, "config.json", revision=entry.revision), str):
        return {"local_files_only": True}
    raise ModelError(
        "hub_unreachable",
        "Cannot download '{model}': the Hugging Face Hub is unreachable and the model is not "
        "cached here. Check the connection or use a local model folder.",
        model=entry.model,
    )


def read_config(entry: ModelEntry) -> Any:
    """A model's config alone (one small file, no weights), for sizing widgets before anything loads."""
    hub_options = offline_options(entry)
    if not hub_options:
        check_model_size(entry)
    try:
        with ONE_LOAD_AT_A_TIME:
            import transformers

            return transformers.AutoConfig.from_pretrained(
                entry.model, revision=entry.revision, trust_remote_code=False, **hub_options
            )
    except Exception as error:
        raise explain_load_error(entry.model, "encoder", error) from error


# --- downloading: a Hub model's files into the local cache, with progress a tab or a terminal can show ---

DOWNLOADING, LOADING = "downloading", "loading"
OTHER_FRAMEWORKS = (".h5", ".msgpack", ".onnx", ".ot", ".tflite", ".gguf", ".mlmodel", ".pb")  # not read by torch
PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt")  # read only when a repository has no safetensors
REPORT_SECONDS = 0.25  # at most this often a progress report, plus one when a download ends
MB = 1_000_000  # as the progress text counts them


@dataclass(frozen=True)
class LoadProgress:
    """Where getting a model stands: downloading (bytes written of the bytes missing), then loading onto a device."""

    model_id: str
    stage: str  # DOWNLOADING or LOADING
    done: int = 0  # bytes
    total: int = 0  # bytes not in the cache when the download began
    seconds: float = 0.0
    device: str = ""

    @property
    def bytes_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


OnProgress = Callable[[LoadProgress], None]

# Who is watching loads in this request. The listener belongs to the request, not the model, so it must not
# become part of the cache key or of every signature between a tab and load_model; a context variable set for
# one `with` block reaches load_model through the cache (and the evaluation run) in the same thread.
_load_listener: ContextVar[OnProgress | None] = ContextVar("load_listener", default=None)


@contextmanager
def reporting_loads(listener: OnProgress) -> Iterator[None]:
    """Within the block, models that load report their download and then their move onto the device."""
    token = _load_listener.set(listener)
    try:
        yield
    finally:
        _load_listener.reset(token)


def files_to_fetch(names: list[str]) -> list[str]:
    """The files of a repository's top level that from_pretrained reads: config, tokenizer and PyTorch weights,
    safetensors when there are any (pickled .bin otherwise), never other frameworks' weights."""
    has_safetensors = any(name.endswith(".safetensors") for name in names)
    skipped = OTHER_FRAMEWORKS + (PICKLED_WEIGHTS if has_safetensors else ())
    return [name for name in names if not name.endswith(skipped) and not name.startswith(("tf_", "flax_", "rust_"))]


class _ByteTally:
    """Bytes written across one model's files, passed on to `on_progress` a few times a second."""

    def __init__(self, model_id: str, total: int, on_progress: OnProgress | None) -> None:
        self.model_id, self.total, self.on_progress = model_id, total, on_progress
        self.done, self.started, self.reported = 0, time.perf_counter(), 0.0
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        with self._lock:
            self.done += count
            due = time.perf_counter() - self.reported >= REPORT_SECONDS
            if due:
                self.reported = time.perf_counter()
        if due:
            self.report()

    def report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(
                LoadProgress(self.model_id, DOWNLOADING, self.done, self.total, time.perf_counter() - self.started)
            )


class _FileBar:
    """What huggingface_hub's `tqdm_class` needs, drawing nothing: each file's bytes go to the class's tally.

    Having `update_transfer` tells the Hub library to send Xet network bytes there and the bytes written to
    disk to `update`, so a file is counted once, by what lands on disk (what the total measures)."""

    tally: _ByteTally

    def __init__(self, *args: Any, initial: int = 0, **kwargs: Any) -> None:
        self.tally.add(initial)  # a resumed download starts with the bytes already on disk

    def __enter__(self) -> _FileBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def update(self, count: int | float | None = 1) -> None:
        self.tally.add(int(count or 0))

    def update_transfer(self, count: int | float | None = 1) -> None:
        pass

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        pass

    set_transfer_postfix_str = set_postfix_str


def repository_files(model: str, revision: str | None) -> dict[str, int]:
    """The files at the top of a Hub repository and their sizes in bytes, from one metadata request."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoFile

    return {
        item.path: item.size or 0
        for item in HfApi().list_repo_tree(model, revision=revision)
        if isinstance(item, RepoFile)
    }


@functools.lru_cache(maxsize=256)
def _fetched_bytes(model: str, revision: str | None) -> int:
    """What from_pretrained would download of a repository, in bytes; remembered, as a picker asks it often."""
    sizes = repository_files(model, revision)
    return sum(sizes[name] for name in files_to_fetch(list(sizes)))


def check_model_size(entry: ModelEntry, sizes: dict[str, int] | None = None) -> None:
    """Refuse a Hub model a user typed in whose files pass LLM_DEMO_MAX_MODEL_MB, judged from the Hub's listing
    before any of them is fetched. Listed models, local folders and an unset limit pass."""
    limit = get_settings().max_model_mb
    if not entry.typed or not limit or Path(entry.model).is_dir():
        return
    try:
        if sizes is None:
            total = _fetched_bytes(entry.model, entry.revision)
        else:
            total = sum(sizes[name] for name in files_to_fetch(list(sizes)))
    except Exception as error:
        raise explain_load_error(entry.model, "encoder", error) from error
    if total > limit * MB:
        raise ModelError(
            "model_too_big",
            "'{model}' is {size:,} MB, more than the {limit:,} MB this deployment allows for a model typed in "
            "(LLM_DEMO_MAX_MODEL_MB). Choose a smaller model or one of the listed ones.",
            model=entry.model,
            size=math.ceil(total / MB),
            limit=limit,
        )


def download(entry: ModelEntry, on_progress: OnProgress | None = None) -> int:
    """Fetch into the Hugging Face cache what from_pretrained will read, reporting bytes as they land to
    `on_progress`, or else to whoever watches loads here (see reporting_loads).

    Files already cached are skipped; a local folder, or a cached model while the Hub is unreachable, needs
    nothing. Returns the bytes downloaded."""
    if Path(entry.model).is_dir() or offline_options(entry):
        return 0
    on_progress = on_progress or _load_listener.get()
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    try:
        sizes = repository_files(entry.model, entry.revision)
        check_model_size(entry, sizes)
        missing = [
            name
            for name in files_to_fetch(list(sizes))
            if not isinstance(try_to_load_from_cache(entry.model, name, revision=entry.revision), str)
        ]
        tally = _ByteTally(entry.model, sum(sizes[name] for name in missing), on_progress)
        bar = type("FileBar", (_FileBar,), {"tally": tally})
        for name in missing:
            hf_hub_download(entry.model, name, revision=entry.revision, tqdm_class=bar)
    except ModelError:
        raise
    except Exception as error:
        raise explain_load_error(entry.model, "encoder", error) from error
    tally.report()
    return tally.done


def download_while_watched(entry: ModelEntry, hub_options: dict[str, Any], device: torch.device) -> None:
    """When someone watches (a tab's progress bar), download first so they see bytes and speed rather than a
    silent wait, then say the model is going onto the device. Unwatched loads leave fetching to from_pretrained."""
    listener = _load_listener.get()
    if listener is None:
        return
    if not hub_options:  # a Hub id with the Hub reachable (local folders and offline loads fetch nothing)
        download(entry, listener)
    listener(LoadProgress(entry.model, LOADING, device=str(device)))
