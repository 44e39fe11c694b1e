"""The one place that loads Hugging Face models, puts them on the best device and caches them."""

from __future__ import annotations

import gc
import os
import platform
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from .errors import ModelError
from .registry import ModelEntry
from .settings import get_settings

# What each task needs from a checkpoint, as the names of transformers' Auto classes.
KINDS = {
    "seq2seq": "AutoModelForSeq2SeqLM",
    "causal-lm": "AutoModelForCausalLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "question-answering": "AutoModelForQuestionAnswering",
    "masked-lm": "AutoModelForMaskedLM",
    "encoder": "AutoModel",
}
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
        dtype = str(self.dtype).removeprefix("torch.")
        return f"{self.model_id} · {self.device} · {dtype} · loaded in {self.load_seconds:.1f} s"


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
    if "GatedRepoError" in names or "gated" in text.lower():
        return ModelError("gated_model", "'{model}' is gated on the Hugging Face Hub and needs an access token.",
                          model=model_id)
    if {"RepositoryNotFoundError", "RevisionNotFoundError"} & names or "is not a valid model identifier" in text \
            or "not a local folder" in text:
        return ModelError("unknown_model", "Model '{model}' was not found on the Hugging Face Hub or on disk.",
                          model=model_id)
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
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
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


def _head_was_trained(loading_info: dict[str, Any]) -> bool:
    """A checkpoint without the task's head loads with random weights there; that is not a model for the task."""
    return not loading_info.get("missing_keys")


def load_model(entry: ModelEntry, kind: str, *, attn_implementation: str | None = None,
               new_head: dict[str, Any] | None = None) -> LoadedModel:
    """Load without caching. `new_head` (label names) is for fine-tuning, where a fresh head is the point."""
    settings = get_settings()
    device = pick_device(settings.device)
    dtype = pick_dtype(device, settings.dtype)
    hub_options = _offline_options(entry)
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
            loaded = load_model(entry, kind, **options)
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


def get_model(entry: ModelEntry, kind: str, **options: Any) -> LoadedModel:
    return model_cache().get(entry, kind, **options)
