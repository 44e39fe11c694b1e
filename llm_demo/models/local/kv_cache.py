"""The running batch's keys and values: one preallocated buffer with a slot per row, written in place.

transformers' DynamicCache grows by concatenation, so every decoding step copied every layer's keys and values,
and rows that joined or left reshuffled the whole batch, padded to the longest. Here each row owns a slot of a
buffer shaped (layers, 2, slots, kv_heads, slot_len, head_dim): a forward pass writes each new token's keys and
values at its row's own position (one index_put per layer), and attention reads a view up to the longest row,
masked per row by a 4D additive mask. A row that leaves takes the last row's slot (one row's copy); the buffer
is reallocated, copying once, only when more or longer rows come than it holds, or when it is four times too big.

What a forward pass writes and reads is its `Plan`, set before the pass: decoding rows 0..B-1 (one token each,
at their own lengths), or new prompts packed end to end in one row (attending to their own fresh keys only), or
the next chunk of one long prompt (attending to its slot).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

SLOT_STEP = 8  # slots come in eights: a room of visitors arriving one by one reallocates a few times, not each time
LENGTH_STEP = 64  # and positions in sixty-fours
SHRINK_WHEN = 4  # a buffer four times bigger than its rows need is reallocated smaller


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def kv_shape(config) -> tuple[int, int, int]:
    """(layers, key/value heads, head size) of a causal LM's attention, from its config."""
    layers = getattr(config, "num_hidden_layers", None) or config.n_layer
    heads = getattr(config, "num_attention_heads", None) or config.n_head
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return layers, kv_heads, head_dim


def bytes_per_token(config, dtype: torch.dtype) -> int:
    """What one token of one row costs in the cache: keys and values of every layer."""
    layers, kv_heads, head_dim = kv_shape(config)
    return 2 * layers * kv_heads * head_dim * torch.finfo(dtype).bits // 8


@dataclass(frozen=True)
class Plan:
    """Where a forward pass's new tokens go, in the order the model sees them, and what attention reads back.

    `rows` is the slots attention reads (decoding rows 0..B-1, or one prompt's slot) up to `length` positions;
    None reads the new keys themselves (prompts packed end to end, each starting at position 0)."""

    slots: torch.Tensor  # (tokens,) the slot of each new token
    positions: torch.Tensor  # (tokens,) its position in its row
    rows: slice | None
    length: int


class SlotLayer(CacheLayerMixin):
    """One layer's view of the slot buffer, as transformers' attention modules call it."""

    is_sliding = False
    is_compileable = False

    def __init__(self, cache: SlotCache, index: int) -> None:
        super().__init__()
        self.cache, self.index, self.is_initialized = cache, index, True

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """Nothing to do: the buffer exists before the first pass."""

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        return self.cache.write(self.index, key_states, value_states)

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.cache.plan.length, 0

    def get_seq_length(self) -> int:
        return self.cache.plan.length - len(self.cache.plan.positions)

    def get_max_length(self) -> int:
        return self.cache.slot_len


class SlotCache(Cache):
    """Keys and values of up to `slots` rows of up to `slot_len` tokens each, in one buffer (see the module)."""

    def __init__(self, config, dtype: torch.dtype, device: torch.device) -> None:
        self.layer_count, self.kv_heads, self.head_dim = kv_shape(config)
        self.dtype, self.device, self.token_bytes = dtype, device, bytes_per_token(config, dtype)
        super().__init__(layers=[SlotLayer(self, index) for index in range(self.layer_count)])
        self.buffer: torch.Tensor | None = None  # (layers, 2, slots, kv_heads, slot_len, head_dim)
        self.plan: Plan | None = None

    @property
    def slots(self) -> int:
        return 0 if self.buffer is None else self.buffer.shape[2]

    @property
    def slot_len(self) -> int:
        return 0 if self.buffer is None else self.buffer.shape[4]

    @property
    def nbytes(self) -> int:
        return 0 if self.buffer is None else self.buffer.numel() * self.buffer.element_size()

    def bytes_for(self, rows: int, length: int) -> int:
        """What a buffer for `rows` rows of `length` tokens takes, rounded as `resize` rounds it."""
        return _round_up(rows, SLOT_STEP) * _round_up(length, LENGTH_STEP) * self.token_bytes

    def resize(self, rows: int, length: int, kept: int) -> None:
        """Hold `rows` rows of `length` tokens: reallocate when the buffer is too small or four times too big,
        copying the first `kept` slots' tokens; none left releases it."""
        if rows == 0:
            self.buffer = None
            return
        small = rows > self.slots or length > self.slot_len
        big = self.bytes_for(rows, length) * SHRINK_WHEN <= self.nbytes
        if not (small or big):
            return
        slots, slot_len = _round_up(rows, SLOT_STEP), _round_up(length, LENGTH_STEP)
        shape = (self.layer_count, 2, slots, self.kv_heads, slot_len, self.head_dim)
        buffer = torch.zeros(shape, dtype=self.dtype, device=self.device)
        if kept and self.buffer is not None:
            copied = min(slot_len, self.slot_len)
            buffer[:, :, :kept, :, :copied] = self.buffer[:, :, :kept, :, :copied]
        self.buffer = buffer

    def copy(self, source: int, target: int, length: int) -> None:
        """Slot `source`'s first `length` tokens into slot `target`: the last row filling a leaver's slot, or a
        prompt that another row holds."""
        self.buffer[:, :, target, :, :length] = self.buffer[:, :, source, :, :length]

    def write(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store a pass's new keys and values (batch, kv_heads, tokens, head_dim) where the plan says; what
        attention reads: a view of the slots, or the new keys themselves for packed prompts."""
        plan, stored = self.plan, self.buffer[layer]
        for index, new in enumerate((keys, values)):
            stored[index][plan.slots, :, plan.positions] = new.transpose(1, 2).flatten(0, 1)  # (tokens, heads, dim)
        if plan.rows is None:
            return keys, values
        return stored[0, plan.rows, :, : plan.length], stored[1, plan.rows, :, : plan.length]

    # --- plans: set before a forward pass, with the positions and the mask it takes -------------------------

    def decoding(self, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """One new token for each of rows 0..B-1, at the row's length: positions (B, 1) and mask (B, 1, 1, T)."""
        rows, read = len(lengths), max(lengths) + 1
        positions = torch.tensor(lengths, device=self.device)
        self.plan = Plan(torch.arange(rows, device=self.device), positions, slice(0, rows), read)
        sees = torch.arange(read, device=self.device)[None, :] <= positions[:, None]
        return positions[:, None], self._additive(sees)[:, None, None]

    def packing(self, slots: list[int], counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The first `counts` tokens of new prompts, end to end in one row, each prompt into its slot and
        attending to itself only: positions (1, N) and a block-causal mask (1, 1, N, N)."""
        prompt = torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts)).to(self.device)
        positions = torch.cat([torch.arange(count) for count in counts]).to(self.device)
        self.plan = Plan(torch.tensor(slots, device=self.device)[prompt], positions, None, len(positions))
        sees = (prompt[:, None] == prompt[None, :]) & (positions[:, None] >= positions[None, :])
        return positions[None], self._additive(sees)[None, None]

    def continuing(self, slot: int, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`count` more tokens of the prompt in `slot`, which holds `start`: positions (1, count) and a causal
        mask (1, 1, count, start + count) over the slot."""
        positions = torch.arange(start, start + count, device=self.device)
        self.plan = Plan(
            torch.full((count,), slot, device=self.device), positions, slice(slot, slot + 1), start + count
        )
        sees = torch.arange(start + count, device=self.device)[None, :] <= positions[:, None]
        return positions[None], self._additive(sees)[None, None]

    def _additive(self, sees: torch.Tensor) -> torch.Tensor:
        """0 where a query sees a key, the dtype's lowest value elsewhere: added to attention scores."""
        return torch.zeros(sees.shape, dtype=self.dtype, device=self.device).masked_fill(
            ~sees, torch.finfo(self.dtype).min
        )
