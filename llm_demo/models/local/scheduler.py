"""Continuous batching for streamed generation: requests that overlap in time share every decoding step.

The vocabulary is vLLM's (`vllm/v1/core/sched/scheduler.py`): a request *waits*, then *runs* (its row sits in
its model's batch and KV cache), then *finishes*. Each step either prefills the waiting requests and merges
them into the running batch, or decodes one token for every running request; finished rows leave at once.
On a CPU a step over 8 rows costs little more than a step over one (the weights are read once either way),
which is where the throughput comes from. Tokens go to a per-request queue that the caller reads; nothing
here knows about Gradio.
"""

from __future__ import annotations

import functools
import inspect
import queue
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field

import torch

from ...errors import ModelError
from ..types import GenerationSettings
from .batching import pad
from .loaded import LoadedModel
from .sampling import choose_tokens, seeded_generator

MAX_RUNNING = 16  # rows decoded together per model; more requests wait for a row to free up


@dataclass(eq=False)
class Request:
    """One generation: its prompt and settings, and the queue its new token ids are handed out on."""

    ids: list[int]
    settings: GenerationSettings
    generator: torch.Generator  # its own random stream: a seed reproduces the text whoever shares the batch
    tokens: queue.Queue = field(default_factory=queue.Queue)  # lists of new ids, then None or the error
    cancelled: threading.Event = field(default_factory=threading.Event)
    produced: int = 0
    done: bool = False  # its last token is out (end token or max_new_tokens)

    @property
    def finished(self) -> bool:
        return self.done or self.cancelled.is_set()

    def cancel(self) -> None:
        """Leave the batch at the next step (Stop pressed, client gone, stop string seen)."""
        self.cancelled.set()

    def new_tokens(self) -> list[int] | None:
        """Block until new token ids arrive; None once the request has finished. Raises what ended it."""
        first = self.tokens.get()
        pieces = [first]
        while first is not None and not isinstance(first, BaseException) and not self.tokens.empty():
            pieces.append(self.tokens.get_nowait())  # a slow reader takes everything that piled up at once
            if pieces[-1] is None or isinstance(pieces[-1], BaseException):
                break
        if isinstance(pieces[-1], BaseException):
            raise pieces[-1]
        ids = [token for piece in pieces if piece is not None for token in piece]
        if pieces[-1] is None and not ids:
            return None
        if pieces[-1] is None:
            self.tokens.put(None)  # hand out these ids now and the end on the next call
        return ids


# --- the running batch: rows of one model's KV cache, left-padded ----------------------------------


def _mergeable(cache) -> bool:
    """Plain growing layers can be padded and joined; sliding-window or recurrent layers cannot."""
    from transformers.cache_utils import DynamicLayer

    return all(type(layer) is DynamicLayer for layer in cache.layers)


def _left_pad(tensor: torch.Tensor, length: int, dim: int) -> torch.Tensor:
    missing = length - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


@dataclass
class Batch:
    """Requests decoded together: their KV cache, attention mask (B, T) and each row's tokens so far."""

    requests: list[Request]
    cache: object  # transformers DynamicCache, (B, heads, T, head_dim) per layer
    mask: torch.Tensor  # (B, T): 0 on the left padding
    seen: list[torch.Tensor]  # per row, on the CPU: prompt and generated ids, for the repetition penalty

    def last_tokens(self) -> torch.Tensor:
        return torch.stack([ids[-1:] for ids in self.seen])  # (B, 1)

    def merge(self, other: Batch) -> Batch:
        """One batch of both: the shorter cache gets zero columns on the left, masked out."""
        length = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers):
            mine.keys = torch.cat([_left_pad(mine.keys, length, 2), _left_pad(theirs.keys, length, 2)])
            mine.values = torch.cat([_left_pad(mine.values, length, 2), _left_pad(theirs.values, length, 2)])
        mask = torch.cat([_left_pad(self.mask, length, 1), _left_pad(other.mask, length, 1)])
        return Batch(self.requests + other.requests, self.cache, mask, self.seen + other.seen)

    def keep(self, rows: list[int]) -> Batch | None:
        """The batch without the other rows, and without columns that are padding in every row left."""
        if not rows:
            return None
        if len(rows) < len(self.requests):
            index = torch.tensor(rows, device=self.mask.device)
            self.cache.batch_select_indices(index)
            self.mask = self.mask[index]
        start = int(self.mask.any(dim=0).nonzero()[0])
        if start:
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, start:], layer.values[:, :, start:]
            self.mask = self.mask[:, start:]
        return Batch([self.requests[row] for row in rows], self.cache, self.mask, [self.seen[row] for row in rows])


# --- one model's scheduler -----------------------------------------------------------------------


class Scheduler:
    """The waiting and running requests of one model, and the step that advances them."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.waiting: deque[Request] = deque()
        self.batch: Batch | None = None
        config = loaded.model.generation_config
        eos = config.eos_token_id if config.eos_token_id is not None else loaded.tokenizer.eos_token_id
        self.eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self.top_k = config.top_k  # a model's own default, as generate() would apply it
        accepted = inspect.signature(loaded.model.forward).parameters
        self.last_logits_only = {"logits_to_keep": 1} if "logits_to_keep" in accepted else {}

    @property
    def running(self) -> list[Request]:
        return self.batch.requests if self.batch else []

    def has_work(self) -> bool:
        return bool(self.waiting or self.batch)

    def step(self, joining: list[Request]) -> None:
        """Prefill `joining` (from `admit`), else decode one token for everyone; hand out tokens; drop finished rows.

        A failure (out of memory, a bug) ends the requests of this batch with the error, never leaves
        them waiting; the waiting requests start afresh at the next step.
        """
        if not joining and not self.batch:
            return
        in_step = self.running + joining
        try:
            with torch.inference_mode():
                if joining:
                    new = self._prefill(joining)
                    self.batch = self.batch.merge(new) if self.batch else new
                else:
                    self._decode()
        except Exception as error:  # noqa: BLE001 - handed to each request's reader
            explained = _explain(error)
            for request in in_step:
                request.tokens.put(explained)
            self.batch = None
            return
        self.batch = self.batch.keep([row for row, request in enumerate(self.batch.requests) if not request.finished])

    def admit(self) -> list[Request]:
        """The waiting requests that join the batch at this step; those cancelled while waiting leave."""
        for request in [request for request in self.waiting if request.cancelled.is_set()]:
            self.waiting.remove(request)
            request.tokens.put(None)
        if self.batch and not _mergeable(self.batch.cache):
            return []  # this model's cache cannot take new rows: newcomers wait until the batch empties
        room = MAX_RUNNING - len(self.running)
        return [self.waiting.popleft() for _ in range(min(room, len(self.waiting)))]

    def _prefill(self, requests: list[Request]) -> Batch:
        """Run the new prompts in one forward pass and choose each one's first token.

        Prompts of different lengths go packed end to end in one row where the model allows it, so that
        none is padded: a 16-token prompt beside a 40-token one costs 16 tokens of work, not 40.
        """
        prompts = [request.ids for request in requests]
        would_pad = len({len(ids) for ids in prompts}) > 1
        packed = would_pad and sum(map(len, prompts)) <= MAX_PACKED_TOKENS and self._packing_agrees()
        logits, cache, mask = self._packed(prompts) if packed else self._padded(prompts)
        batch = Batch(requests, cache, mask, [torch.tensor(ids) for ids in prompts])
        self._hand_out(batch, logits)
        return batch

    def _padded(self, prompts: list[list[int]]) -> tuple[torch.Tensor, object, torch.Tensor]:
        """Prompts side by side, left-padded: the last position's logits (B, V), the cache and the mask (B, T)."""
        input_ids, mask = (
            tensor.to(self.loaded.device) for tensor in pad(prompts, self.loaded.tokenizer.pad_token_id or 0, left=True)
        )
        output = self._forward(input_ids, mask, _positions(mask, mask.shape[1]), cache=None, **self.last_logits_only)
        return output.logits[:, -1], output.cache, mask

    def _packed(self, prompts: list[list[int]]) -> tuple[torch.Tensor, object, torch.Tensor]:
        """Prompts end to end in one row, each attending to itself alone; the same as `_padded` gives."""
        device, lengths = self.loaded.device, [len(ids) for ids in prompts]
        input_ids = torch.tensor([[token for ids in prompts for token in ids]], device=device)
        positions = torch.tensor([[position for length in lengths for position in range(length)]], device=device)
        ends = torch.tensor(lengths, device=device).cumsum(0) - 1
        output = self._forward(
            input_ids,
            block_causal_mask(lengths, self.loaded.model.dtype, device),
            positions,
            cache=None,
            logits_to_keep=ends,
        )
        for layer in output.cache.layers:  # (1, heads, sum of lengths, dim) -> (prompts, heads, longest, dim)
            layer.keys, layer.values = _unpacked(layer.keys, lengths), _unpacked(layer.values, lengths)
        return output.logits[0], output.cache, pad(prompts, 0, left=True)[1].to(device)

    def _packing_agrees(self) -> bool:
        """Whether this model gives packed prompts the logits it gives them padded, checked once per model.

        It must honour a 4D attention mask, keep a plain cache (no sliding window) and take the positions
        of the logits to keep; a model that does not is prefilled padded, never answered wrongly.
        """
        model = self.loaded.model
        if model not in _PACKING_AGREES:
            _PACKING_AGREES[model] = bool(self.last_logits_only) and _same_logits(self._padded, self._packed)
        return _PACKING_AGREES[model]

    def _decode(self) -> None:
        batch = self.batch
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.requests), 1))], dim=1)
        output = self._forward(
            batch.last_tokens().to(self.loaded.device),
            batch.mask,
            _positions(batch.mask, 1),
            cache=batch.cache,
            **self.last_logits_only,
        )
        batch.cache = output.cache
        self._hand_out(batch, output.logits[:, -1])

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, **options):
        return self.loaded.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True, **options
        )

    def _hand_out(self, batch: Batch, logits: torch.Tensor) -> None:
        """Choose every row's next token from its logits (B, V) and hand it to the row's reader."""
        chosen = choose_tokens(
            logits,
            [request.settings for request in batch.requests],
            [request.generator for request in batch.requests],
            batch.seen,
            self.top_k,
        )
        for row, (request, token) in enumerate(zip(batch.requests, chosen)):
            batch.seen[row] = torch.cat([batch.seen[row], batch.seen[row].new_tensor([token])])
            request.produced += 1
            if token not in self.eos:  # the end token is not text
                request.tokens.put([token])
            if token in self.eos or request.produced >= request.settings.max_new_tokens:
                request.done = True
                request.tokens.put(None)


# Packing costs attention over every pair of packed tokens, padding only within each prompt: past this many
# tokens in all, the quadratic part outweighs the padding saved.
MAX_PACKED_TOKENS = 1024
_PACKING_AGREES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> bool, engine thread only


def _positions(mask: torch.Tensor, columns: int) -> torch.Tensor:
    """Each of the last `columns` columns' position in its row, counting only real tokens."""
    return (mask.cumsum(dim=-1)[:, -columns:] - 1).clamp(min=0)


def block_causal_mask(lengths: list[int], dtype: torch.dtype, device) -> torch.Tensor:
    """(1, 1, T, T) additive mask for prompts packed end to end: a token sees its own prompt up to itself."""
    prompt = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    position = torch.arange(len(prompt))
    sees = (prompt[:, None] == prompt[None, :]) & (position[:, None] >= position[None, :])
    return torch.zeros(sees.shape, dtype=dtype).masked_fill(~sees, torch.finfo(dtype).min)[None, None].to(device)


def _unpacked(packed: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """(1, heads, sum of lengths, dim) -> (prompts, heads, longest, dim), each prompt left-padded with zeros."""
    longest = max(lengths)
    return torch.cat([_left_pad(part, longest, 2) for part in packed.split(lengths, dim=2)])


def _same_logits(padded, packed) -> bool:
    """Two short prompts through both prefills: the same logits, within the dtype's rounding, and a plain cache."""
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8]]
    expected, cache, _ = padded(prompts)
    if not _mergeable(cache):
        return False
    try:
        got = packed(prompts)[0]
    except Exception:  # noqa: BLE001 - a model that refuses the mask is one that pads
        return False
    tolerance = 1e-4 if expected.dtype == torch.float32 else 2e-2
    return got.shape == expected.shape and bool(
        torch.allclose(got.float(), expected.float(), rtol=0, atol=tolerance * float(expected.abs().max()) + 1e-6)
    )


def _explain(error: Exception) -> ModelError:
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return ModelError("out_of_memory", "Not enough memory to generate. Try a shorter text or a smaller model.")
    return ModelError(
        "generation_failed",
        "Generation failed: {reason}",
        reason=str(error).splitlines()[0][:300] if str(error) else type(error).__name__,
    )


# --- the engine: one thread steps every model's scheduler --------------------------------------------


class Engine:
    """Steps every model that has requests, in turn, on one long-lived thread.

    On the CPU a fresh thread per request builds a new OpenMP team that competes with the old ones and
    halves tokens per second; one thread that lives on keeps its team (and other torch work leaves no team
    behind to slow it: llm_demo/threads.py). Each model keeps its own batch (its own scheduler), created
    on its first request and dropped as soon as it has nothing to do.
    """

    def __init__(self) -> None:
        self._schedulers: dict[int, Scheduler] = {}  # by id(model): only while it has requests
        self._work = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="llm_demo-generate", daemon=True)
        self._thread.start()

    def submit(self, loaded: LoadedModel, ids: list[int], settings: GenerationSettings) -> Request:
        """Queue a request; it joins its model's batch at the next step."""
        request = Request(list(ids), settings, seeded_generator(settings.seed))
        with self._work:
            key = id(loaded.model)
            if key not in self._schedulers:
                self._schedulers[key] = Scheduler(loaded)
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
                schedulers = list(self._schedulers.values())
            for scheduler in schedulers:
                with self._work:  # new requests join `waiting` under the same lock
                    joining = scheduler.admit()
                scheduler.step(joining)
            with self._work:
                for key in [key for key, scheduler in self._schedulers.items() if not scheduler.has_work()]:
                    del self._schedulers[key]


@functools.cache
def engine() -> Engine:
    """The process-wide engine, started on the first streamed generation."""
    return Engine()
