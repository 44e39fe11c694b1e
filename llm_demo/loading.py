"""The one place that loads Hugging Face models, puts them on the best device and caches them."""

from __future__ import annotations

import gc
import os
import platform
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from .errors import ModelError
from .packing import pack_linear_layers
from .registry import ModelEntry
from .remote import RemoteModel, connect
from .settings import get_settings
from .threads import on_fresh_thread

# What each task needs from a checkpoint, as the names of transformers' Auto classes.
KINDS = {
    "seq2seq": "AutoModelForSeq2SeqLM",
    "causal-lm": "AutoModelForCausalLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "masked-lm": "AutoModelForMaskedLM",
    "encoder": "AutoModel",
}
PACKED_KINDS = {"causal-lm", "seq2seq"}  # they decode a few rows at a time; see packing.py
KIND_WORDS = {
    "seq2seq": "translation (sequence-to-sequence)",
    "causal-lm": "text generation (causal language model)",
    "sequence-classification": "text classification",
    "question-answering": "extractive question answering",
    "masked-lm": "masked-word prediction",
    "encoder": "encoding text",
}


@dataclass(frozen=True)
class LoadedModel:
    """A model ready for inference, with what the UI shows about where it runs."""

    model_id: str
    kind: str
    model: Any
    tokenizer: Any
    device: torch.device
    dtype: torch.dtype
    load_seconds: float

    @property
    def token_limit(self) -> int:
        """The most tokens the model reads at once: its position table, or its tokenizer's limit if smaller.

        Tokenizers without a limit report a huge placeholder, which is ignored; 512 when neither says.
        """
        limits = [limit for limit in (positions(self.model.config), self.tokenizer.model_max_length)
                  if limit and limit < 10**7]
        return min(limits, default=512)

    @property
    def placement(self) -> str:
        """Where the model runs, as reports show it: 'cpu · float32', 'cuda:0 · bfloat16'."""
        return f"{self.device} · {str(self.dtype).removeprefix('torch.')}"

    def cap_new_tokens(self, requested: int, prompt_tokens: int = 0) -> int:
        """`requested` new tokens, or as many as the model can still hold after a prompt of `prompt_tokens`.

        A sequence-to-sequence prompt sits in the encoder, so only the decoder's own positions count;
        a causal LM's prompt and reply share one window. Past the end of a position table generate()
        fails with an IndexError, so every generating task asks here first. Below 1: the prompt fills the window.
        """
        if self.model.config.is_encoder_decoder:
            return min(requested, decoder_positions(self.model.config) or requested)
        return min(requested, self.token_limit - prompt_tokens)

    def describe(self) -> str:
        return f"{self.model_id} · {self.placement} · loaded in {self.load_seconds:.1f} s"


# Models that number positions from pad_token_id + 1, as fairseq did: the first rows of their table are never
# used, so RoBERTa's 514 positions hold 512 tokens. Their tokenizers usually say 512, but not all checkpoints ship
# a tokenizer config that does.
PADDING_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text", "longformer",
                            "mpnet", "ibert", "roberta-prelayernorm", "xmod", "luke", "esm"}


def positions(config: Any) -> int | None:
    """How many tokens a model's position table holds, from its config; None for relative positions without one."""
    table = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if table and getattr(config, "model_type", None) in PADDING_OFFSET_POSITIONS:
        return table - (config.pad_token_id or 0) - 1
    return table


def decoder_positions(config: Any) -> int | None:
    """How many tokens a sequence-to-sequence decoder can hold (some configs size it apart from the encoder)."""
    return getattr(config, "max_target_positions", None) or positions(config)


def max_new_tokens(config: Any) -> int | None:
    """The most tokens a model can generate after a one-token prompt, from its config alone (no weights),
    so the UI can size its sliders before anything loads; None when the config does not say."""
    if getattr(config, "is_encoder_decoder", False):
        return decoder_positions(config)
    window = positions(config)
    return window - 1 if window else None


# transformers' lazy first import and parts of from_pretrained are not thread-safe: two models loaded
# at once can fail with "no attribute AutoModel…" or report missing weights. Loads are CPU- and
# disk-bound anyway, so they take turns; inference on loaded models still runs side by side.
_ONE_LOAD_AT_A_TIME = threading.Lock()


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU, unless $LLM_DEMO_DEVICE names one."""
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bf16 natively, as torch reports it: AVX512-BF16 or AMX on x86, BF16 on ARM.

    Elsewhere torch emulates bf16 with conversions and it runs slower than fp32, so the choice follows the
    instruction sets, not the machine's name. (`torch.backends.cpu.get_cpu_capability()` stops at "AVX512",
    and oneDNN's bf16 check on x86 also accepts plain AVX512, which emulates.)
    """
    if platform.machine().lower() in {"aarch64", "arm64"}:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def pick_dtype(device: torch.device, preference: str = "auto") -> torch.dtype:
    """Half precision where the hardware is built for it, fp32 elsewhere, unless $LLM_DEMO_DTYPE names one."""
    if preference != "auto":
        return getattr(torch, preference)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.bfloat16 if cpu_has_bf16() else torch.float32


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
        return ModelError("out_of_memory", "Not enough memory to load '{model}'. Try a smaller model.",
                          model=model_id)
    # A missing repository's message mentions "private or gated repo" too, so the error types decide first.
    gated = ModelError("gated_model", "'{model}' is gated on the Hugging Face Hub and needs an access token.",
                       model=model_id)
    if "GatedRepoError" in names:
        return gated
    if {"RepositoryNotFoundError", "RevisionNotFoundError"} & names or "is not a valid model identifier" in text \
            or "not a local folder" in text:
        return ModelError("unknown_model", "Model '{model}' was not found on the Hugging Face Hub or on disk.",
                          model=model_id)
    if "gated" in text.lower():
        return gated
    if {"LocalEntryNotFoundError", "ConnectError", "ConnectionError", "OfflineModeIsEnabled"} & names \
            or "couldn't connect" in text.lower() or "offline" in text.lower():
        return ModelError("hub_unreachable",
                          "Cannot download '{model}': the Hugging Face Hub is unreachable and the model is not "
                          "cached here. Check the connection or use a local model folder.", model=model_id)
    if isinstance(error, (ValueError, KeyError)) and ("Unrecognized" in text or "configuration class" in text):
        return ModelError("wrong_kind", "'{model}' cannot do {what}: it is a different kind of model.",
                          model=model_id, what=KIND_WORDS[kind])
    return ModelError("load_failed", "Could not load '{model}': {reason}", model=model_id,
                      reason=text.splitlines()[0][:300] if text else type(error).__name__)


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


def _offline_options(entry: ModelEntry) -> dict[str, Any]:
    """Local folders need nothing; a Hub id without a network loads from the local cache or fails clearly."""
    if Path(entry.model).is_dir() or hub_reachable():
        return {}
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(entry.model, "config.json", revision=entry.revision), str):
        return {"local_files_only": True}
    raise ModelError("hub_unreachable",
                     "Cannot download '{model}': the Hugging Face Hub is unreachable and the model is not "
                     "cached here. Check the connection or use a local model folder.", model=entry.model)


def read_config(entry: ModelEntry) -> Any:
    """A model's config alone (one small file, no weights), for sizing widgets before anything loads."""
    hub_options = _offline_options(entry)
    try:
        with _ONE_LOAD_AT_A_TIME:
            import transformers

            return transformers.AutoConfig.from_pretrained(entry.model, revision=entry.revision,
                                                           trust_remote_code=False, **hub_options)
    except Exception as error:  # noqa: BLE001 - every failure becomes a readable message
        raise explain_load_error(entry.model, "encoder", error) from error


# --- downloading: a Hub model's files into the local cache, with progress a tab or a terminal can show ---

DOWNLOADING, LOADING = "downloading", "loading"
OTHER_FRAMEWORKS = (".h5", ".msgpack", ".onnx", ".ot", ".tflite", ".gguf", ".mlmodel", ".pb")  # not read by torch
PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt")  # read only when a repository has no safetensors
REPORT_SECONDS = 0.25  # at most this often a progress report, plus one when a download ends


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
# one `with` block reaches load_model through the cache (and the evaluation runner) in the same thread.
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
            self.on_progress(LoadProgress(self.model_id, DOWNLOADING, self.done, self.total,
                                          time.perf_counter() - self.started))


class _FileBar:
    """What huggingface_hub's `tqdm_class` needs, drawing nothing: each file's bytes go to the class's tally.

    Having `update_transfer` tells the Hub library to send Xet network bytes there and the bytes written to
    disk to `update`, so a file is counted once, by what lands on disk (what the total measures)."""

    tally: _ByteTally

    def __init__(self, *args: Any, initial: int = 0, **kwargs: Any) -> None:
        self.tally.add(initial)  # a resumed download starts with the bytes already on disk

    def __enter__(self) -> "_FileBar":
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


def download(entry: ModelEntry, on_progress: OnProgress | None = None) -> int:
    """Fetch into the Hugging Face cache what from_pretrained will read, reporting bytes as they land to
    `on_progress`, or else to whoever watches loads here (see reporting_loads).

    Files already cached are skipped; a local folder, or a cached model while the Hub is unreachable, needs
    nothing. Returns the bytes downloaded."""
    if Path(entry.model).is_dir() or _offline_options(entry):
        return 0
    on_progress = on_progress or _load_listener.get()
    from huggingface_hub import HfApi, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.hf_api import RepoFile

    try:
        listing = [item for item in HfApi().list_repo_tree(entry.model, revision=entry.revision)
                   if isinstance(item, RepoFile)]
        sizes = {item.path: item.size or 0 for item in listing}
        missing = [name for name in files_to_fetch(list(sizes))
                   if not isinstance(try_to_load_from_cache(entry.model, name, revision=entry.revision), str)]
        tally = _ByteTally(entry.model, sum(sizes[name] for name in missing), on_progress)
        bar = type("FileBar", (_FileBar,), {"tally": tally})
        for name in missing:
            hf_hub_download(entry.model, name, revision=entry.revision, tqdm_class=bar)
    except Exception as error:  # noqa: BLE001 - every failure becomes a readable message
        raise explain_load_error(entry.model, "encoder", error) from error
    tally.report()
    return tally.done


def _download_while_watched(entry: ModelEntry, hub_options: dict[str, Any], device: torch.device) -> None:
    """When someone watches (a tab's progress bar), download first so they see bytes and speed rather than a
    silent wait, then say the model is going onto the device. Unwatched loads leave fetching to from_pretrained."""
    listener = _load_listener.get()
    if listener is None:
        return
    if not hub_options:  # a Hub id with the Hub reachable (local folders and offline loads fetch nothing)
        download(entry, listener)
    listener(LoadProgress(entry.model, LOADING, device=str(device)))


def _head_was_trained(loading_info: dict[str, Any]) -> bool:
    """A checkpoint without the task's head loads with random weights there; that is not a model for the task."""
    return not loading_info.get("missing_keys")


def load_model(entry: ModelEntry, kind: str, *, attn_implementation: str | None = None,
               new_head: dict[str, Any] | None = None, dtype: torch.dtype | None = None) -> LoadedModel:
    """Load without caching. `new_head` (label names) is for fine-tuning, where a fresh head is the point;
    `dtype` overrides $LLM_DEMO_DTYPE and the hardware's choice, for views whose numbers need float32."""
    settings = get_settings()
    device = pick_device(settings.device)
    dtype = dtype or pick_dtype(device, settings.dtype)
    hub_options = _offline_options(entry)
    _download_while_watched(entry, hub_options, device)
    kwargs: dict[str, Any] = {"revision": entry.revision, "trust_remote_code": False, "dtype": dtype, **hub_options}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device.type == "cuda":
        kwargs["device_map"] = "auto"  # accelerate fills the GPU(s) first and offloads what does not fit
    if new_head:
        kwargs.update(new_head)
    started = time.perf_counter()
    try:
        with _ONE_LOAD_AT_A_TIME:
            import transformers

            transformers.utils.logging.disable_progress_bar()
            tokenizer = transformers.AutoTokenizer.from_pretrained(entry.model, revision=entry.revision,
                                                                   trust_remote_code=False, **hub_options)
            model, info = getattr(transformers, KINDS[kind]).from_pretrained(entry.model, output_loading_info=True,
                                                                             **kwargs)
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - every failure becomes a readable message
        raise explain_load_error(entry.model, kind, error) from error
    if not new_head and kind != "encoder" and not _head_was_trained(info):
        raise ModelError("wrong_kind", "'{model}' cannot do {what}: it has no trained weights for it.",
                         model=entry.model, what=KIND_WORDS[kind])
    if "device_map" not in kwargs:
        model.to(device)
    model.eval()
    if kind in PACKED_KINDS and device.type == "cpu" and settings.pack_weights:
        pack_linear_layers(model, dtype)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model_id=entry.model, kind=kind, model=model, tokenizer=tokenizer,
                       device=model.device, dtype=dtype, load_seconds=time.perf_counter() - started)


class ModelCache:
    """Loaded models, least recently used evicted past `capacity`; each model loads once however many ask."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._models: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}
        self.loads = 0  # how many real loads happened: lets tests see that concurrent asks loaded once

    def get(self, entry: ModelEntry, kind: str, **options: Any) -> LoadedModel:
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


def get_model(entry: ModelEntry, kind: str, **options: Any) -> LoadedModel | RemoteModel:
    """The entry's model, loaded once. An entry with an `endpoint` runs on that server instead: what comes
    back is a RemoteModel, which the tasks send to the server. It is not cached, so it never evicts a
    loaded model; connecting is one GET /v1/models, which also notices a server that changed."""
    if entry.endpoint:
        return connect(entry, kind)
    return model_cache().get(entry, kind, **options)
