"""Continuous batching for streamed generation: requests that overlap in time share every decoding step.

The vocabulary is vLLM's (`vllm/v1/core/sched/scheduler.py`): a request *waits*, then *runs* (its row sits in its
model's batch and KV cache), then *finishes*. Each step prefills the next chunk of prompts, then decodes one token
for every running row; finished rows leave at once. Rows live in slots of a preallocated cache (kv_cache.py), so
nothing is copied as rows grow, and a row that joins or leaves moves at most one other. How many rows run is set
by memory: requests are admitted, first come first served, while the cache for all of them fits the budget
(LLM_DEMO_KV_CACHE_MB); the others wait and are told their place in line. On a CPU a step over 32 rows costs far
less than 32 steps over one (the weights are read once either way), which is where the throughput comes from.
Tokens go to a per-request queue that the caller reads; nothing here knows about Gradio.
"""

from __future__ import annotations

import inspect
import weakref
from collections import deque
from dataclasses import dataclass

import torch

from ...errors import ModelError
from .kv_cache import SlotCache
from .loaded import LoadedModel
from .requests import Request
from .sampling import choose_tokens

# Prompt tokens prefilled per step, packed end to end: a room of short prompts in one or two steps, and a
# long prompt in chunks, so that it never stalls the running streams for more than a chunk (a second or so on
# two cores). When no row decodes, nobody waits for the pass: four times as many, vLLM's 2,048 on a CPU.
PREFILL_TOKENS = 512
IDLE_PREFILL = 4
# Streamed updates a second that a model's readers take in all: one visitor sees every token as it comes, 8 see
# a few tokens five times a second, 32 about every second. Each update holds the GIL in the app's event loop and
# a worker thread for a millisecond or so, which the decoding step, between its ops, waits for: at 8 visitors
# of the 0.29B bench model, 100 updates a second gave a fifth fewer tokens than 40.
STREAM_UPDATES_PER_SECOND = 40


@dataclass(eq=False)
class Row:
    """A running request's place in the batch: how much of it the cache holds, and its tokens so far."""

    request: Request
    seen: list[int]  # the prompt, then every chosen token: the repetition penalty's, and the next input
    length: int = 0  # tokens in the cache
    cache: object = None  # the model's own cache, for models served one at a time (SoloScheduler)

    @property
    def prompt_cached(self) -> bool:
        """The cache holds its prompt but the last token: what a newcomer with the same prompt can copy."""
        return self.length >= len(self.request.ids) - 1

    @property
    def prefilled(self) -> bool:
        """The cache holds every token but the last one seen, which the next decoding pass feeds."""
        return self.length >= len(self.seen) - 1


class Scheduler:
    """The waiting and running requests of one model, and the step that advances them.

    Rows sit in cache slots in order: the decoding rows first, then at most one prompt longer than a step's
    prefill, still being prefilled, which takes no newcomer in beside it until it is done.
    """

    max_rows: int | None = None  # None: as many as the budget holds

    def __init__(self, loaded: LoadedModel, budget: int) -> None:
        self.loaded, self.budget = loaded, budget  # bytes of keys and values the running rows may take
        self.waiting: deque[Request] = deque()
        self.rows: list[Row] = []
        self.cache = SlotCache(loaded.model.config, loaded.model.dtype, loaded.device)
        config = loaded.model.generation_config
        eos = config.eos_token_id if config.eos_token_id is not None else loaded.tokenizer.eos_token_id
        self.eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self.top_k = config.top_k  # a model's own default, as generate() would apply it
        self.keeps_logits = "logits_to_keep" in inspect.signature(loaded.model.forward).parameters

    @property
    def running(self) -> list[Request]:
        return [row.request for row in self.rows]

    def has_work(self) -> bool:
        return bool(self.waiting or self.rows)

    def admit(self) -> list[Request]:
        """The waiting requests that join at this step, in the order they came, as many as the cache's budget
        holds and one step's prefill takes whole (the first may be cut, its rest prefilled at the next steps);
        the others learn their place in line. Those cancelled while waiting leave."""
        for request in [request for request in self.waiting if request.cancelled.is_set()]:
            self.waiting.remove(request)
            request.end()
        joining: list[Request] = []
        room = self._prefill_budget()
        while (
            self.waiting
            and (not joining or len(self.waiting[0].ids) <= room)
            and self._fits(joining + [self.waiting[0]])
        ):
            joining.append(self.waiting.popleft())
            room -= len(joining[-1].ids)
        for place, request in enumerate(self.waiting, start=1):
            request.wait_at(place)
        return joining

    def _fits(self, joining: list[Request]) -> bool:
        """Whether these newcomers can join now: no prompt is half prefilled, and the cache for every row fits the
        budget (or nothing else runs: one request always may)."""
        if self.rows and not self.rows[-1].prefilled:
            return False
        rows = len(self.rows) + len(joining)
        if self.max_rows is not None and rows > self.max_rows:
            return False
        longest = max(request.need for request in self.running + joining)
        return rows == 1 or self.cache.bytes_for(rows, longest) <= self.budget

    def _prefill_budget(self) -> int:
        return PREFILL_TOKENS if any(row.prefilled for row in self.rows) else PREFILL_TOKENS * IDLE_PREFILL

    def step(self, joining: list[Request]) -> None:
        """Prefill `joining` (from `admit`) or the next chunk of a long prompt, decode one token for every
        running row, hand the tokens out, and free the rows that finished.

        A failure (out of memory, a bug) ends this step's requests with the error, never leaves them waiting;
        the waiting requests start afresh at the next step.
        """
        if not joining and not self.rows:
            return
        in_step = self.running + joining
        with torch.inference_mode():  # the cache's tensors are inference tensors: every change to them in here
            try:
                if joining or (self.rows and not self.rows[-1].prefilled):
                    self._prefill(joining)
                if any(row.prefilled for row in self.rows):
                    self._decode([row for row in self.rows if row.prefilled])
            except Exception as error:  # noqa: BLE001 - handed to each request's reader
                explained = _explain(error)
                for request in in_step:
                    request.end(explained)
                self.rows = []
                return self._fit_cache()
            for slot in reversed([slot for slot, row in enumerate(self.rows) if row.request.finished]):
                self._free(slot)
            self._fit_cache()

    def _fit_cache(self) -> None:
        """The cache sized for the rows left: smaller where four times too big, freed when none is left."""
        self.cache.resize(len(self.rows), max((request.need for request in self.running), default=0), len(self.rows))

    # --- the passes ----------------------------------------------------------------------------------------

    def _prefill(self, joining: list[Request]) -> None:
        """The newcomers into the slots after the running rows (`_join`), or else the next chunk of a long prompt."""
        if joining:
            return self._join(joining)
        row, slot = self.rows[-1], len(self.rows) - 1
        count = min(self._prefill_budget(), len(row.seen) - row.length)
        positions, mask = self.cache.continuing(slot, row.length, count)
        logits = self._forward(row.seen[row.length : row.length + count], mask, positions, [count - 1])
        row.length += count
        if row.length == len(row.seen):
            self._hand_out([row], logits)

    def _join(self, joining: list[Request]) -> None:
        """Prompts that no row holds yet packed end to end in one pass (a 16-token prompt beside a 40-token one
        costs 16 tokens of work, not 40), each complete one choosing its first token; a prompt that a row already
        holds (a room pressing the same example) is copied from that row's slot but its last token, which the
        decoding pass then feeds, as vLLM's prefix cache would spare it."""
        start, rows = len(self.rows), [Row(request, list(request.ids)) for request in joining]
        self.cache.resize(start + len(rows), max(request.need for request in self.running + joining), start)
        holders = {tuple(row.request.ids): slot for slot, row in enumerate(self.rows) if row.prompt_cached}
        computed = [
            slot for slot, row in enumerate(rows, start) if holders.setdefault(tuple(row.request.ids), slot) == slot
        ]
        self.rows += rows
        if computed:
            self._pack([self.rows[slot] for slot in computed], computed)
        for slot, row in enumerate(rows, start):
            if (holder := holders[tuple(row.request.ids)]) != slot:
                row.length = len(row.seen) - 1
                self.cache.copy(holder, slot, row.length)

    def _pack(self, rows: list[Row], slots: list[int]) -> None:
        """New prompts end to end in one pass, into their slots; the last may be cut where it alone is longer
        than a pass (the rest comes at the next steps)."""
        counts = [len(row.seen) for row in rows]
        counts[-1] -= max(0, sum(counts) - self._prefill_budget())
        positions, mask = self.cache.packing(slots, counts)
        ends = torch.tensor(counts).cumsum(0) - 1
        logits = self._forward(
            [token for row, count in zip(rows, counts) for token in row.seen[:count]], mask, positions, ends
        )
        for row, count in zip(rows, counts):
            row.length = count
        complete = [index for index, (row, count) in enumerate(zip(rows, counts)) if count == len(row.seen)]
        self._hand_out([rows[index] for index in complete], logits[complete])

    def _decode(self, rows: list[Row]) -> None:
        """One token for each of the decoding rows (slots 0..B-1), each at its own length."""
        positions, mask = self.cache.decoding([row.length for row in rows])
        ids = torch.tensor([[row.seen[-1]] for row in rows], device=self.loaded.device)
        logits = self._run(ids, mask, positions, 1)[:, -1]
        for row in rows:
            row.length += 1
        self._hand_out(rows, logits)

    def _forward(self, ids: list[int], mask: torch.Tensor, positions: torch.Tensor, keep) -> torch.Tensor:
        """Tokens in one row through the model: the logits (len(keep), V) at the positions `keep`."""
        keep = torch.as_tensor(keep, device=self.loaded.device)
        logits = self._run(torch.tensor([ids], device=self.loaded.device), mask, positions, keep)
        return logits[0] if self.keeps_logits else logits[0, keep]

    def _run(self, ids: torch.Tensor, mask, positions, keep) -> torch.Tensor:
        """The model's logits for `ids` (rows, tokens), with this step's cache plan."""
        options = {"logits_to_keep": keep} if self.keeps_logits else {}
        output = self.loaded.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, cache=self.cache, use_cache=True, **options
        )
        return output.logits

    def _hand_out(self, rows: list[Row], logits: torch.Tensor) -> None:
        """Choose every row's next token from its logits (B, V) and hand it to the row's reader."""
        requests = [row.request for row in rows]
        chosen = choose_tokens(
            logits,
            [request.settings for request in requests],
            [request.generator for request in requests],
            [row.seen for row in rows],
            self.top_k,
        )
        pace = len(self.rows) / STREAM_UPDATES_PER_SECOND
        for row, request, token in zip(rows, requests, chosen):
            request.pace = pace
            row.seen.append(token)
            request.produced += 1
            if token not in self.eos:  # the end token is not text
                request.tokens.put([token])
            if token in self.eos or request.produced >= request.settings.max_new_tokens:
                request.end()

    def _free(self, slot: int) -> None:
        """The row in `slot` leaves: the last decoding row takes its slot, and a prompt still being prefilled,
        which stays last, moves up one. Called from the highest leaving slot down, so no leaver is moved."""
        rows = self.rows
        partial = None if rows[-1].prefilled else rows[-1]
        end = len(rows) - (2 if partial else 1)  # the last decoding row
        if partial is None or slot != len(rows) - 1:
            if slot != end:
                self.cache.copy(end, slot, rows[end].length)
                rows[slot] = rows[end]
            if partial is not None:
                self.cache.copy(end + 1, end, partial.length)
                rows[end] = partial
        rows.pop()


def _explain(error: Exception) -> ModelError:
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return ModelError("out_of_memory", "Not enough memory to generate. Try a shorter text or a smaller model.")
    return ModelError(
        "generation_failed",
        "Generation failed: {reason}",
        reason=str(error).splitlines()[0][:300] if str(error) else type(error).__name__,
    )


# --- models the slot cache cannot serve ---------------------------------------------------------------------


class SoloScheduler(Scheduler):
    """One request at a time, in the model's own cache, for a model whose attention the slot cache cannot
    serve (sliding windows, recurrent layers, or one that ignores a 4D mask): slower, never wrong."""

    max_rows = 1

    def _fit_cache(self) -> None:
        """Nothing to size: a row's keys and values are in the model's own cache, which leaves with the row."""

    def _prefill(self, joining: list[Request]) -> None:
        row = Row(joining[0], list(joining[0].ids))
        output = self.loaded.model(input_ids=torch.tensor([row.seen], device=self.loaded.device), use_cache=True)
        row.cache, row.length = output.cache, len(row.seen)
        self.rows.append(row)
        self._hand_out([row], output.logits[:, -1])

    def _decode(self, rows: list[Row]) -> None:
        [row] = rows
        ids = torch.tensor([row.seen[-1:]], device=self.loaded.device)
        output = self.loaded.model(input_ids=ids, cache=row.cache, use_cache=True)
        row.length += 1
        self._hand_out(rows, output.logits[:, -1])


def scheduler_for(loaded: LoadedModel, budget: int) -> Scheduler:
    """A slot-cache scheduler where the model gives the same logits through the slot cache as without a cache
    (checked once per model), one request at a time elsewhere."""
    model = loaded.model
    if model not in _SLOTS_AGREE:
        _SLOTS_AGREE[model] = _plain_attention(model.config) and _same_logits(Scheduler(loaded, budget))
    return (Scheduler if _SLOTS_AGREE[model] else SoloScheduler)(loaded, budget)


_SLOTS_AGREE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> bool, engine thread only


def _plain_attention(config) -> bool:
    """Every layer attends to every earlier token (no sliding windows, no recurrent layers)."""
    return set(getattr(config, "layer_types", None) or ["full_attention"]) == {"full_attention"} and not (
        getattr(config, "use_sliding_window", False) or getattr(config, "is_encoder_decoder", False)
    )


def _same_logits(scheduler: Scheduler) -> bool:
    """Two prompts of different lengths packed, then two decoding steps, through the slot cache: the same
    logits as each sequence alone without a cache, within the dtype's rounding."""
    model, device, prompts = scheduler.loaded.model, scheduler.loaded.device, [[1, 2, 3], [4, 5, 6, 7, 8]]
    try:
        with torch.inference_mode():
            cache = scheduler.cache
            cache.resize(2, 8, 0)
            positions, mask = cache.packing([0, 1], [3, 5])
            got = [scheduler._forward(prompts[0] + prompts[1], mask, positions, [2, 7])]
            for step, token in enumerate((9, 10)):
                positions, mask = cache.decoding([3 + step, 5 + step])
                got.append(scheduler._run(torch.tensor([[token], [token]], device=device), mask, positions, 1)[:, -1])
            alone = [model(input_ids=torch.tensor([ids + [9, 10]], device=device)).logits[0] for ids in prompts]
    except Exception:  # noqa: BLE001 - a model that refuses the cache or the mask is one served alone
        return False
    expected = [torch.stack([alone[0][2], alone[1][4]])] + [
        torch.stack([alone[0][3 + step], alone[1][5 + step]]) for step in range(2)
    ]
    tolerance = 1e-4 if expected[0].dtype == torch.float32 else 3e-2
    return all(
        a.shape == b.shape
        and bool(torch.allclose(a.float(), b.float(), rtol=0, atol=tolerance * float(b.abs().max()) + 1e-6))
        for a, b in zip(got, expected)
    )
