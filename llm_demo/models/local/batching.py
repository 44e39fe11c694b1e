"""Length-sorted, token-budget batching shared by every task: less padding, fewer wasted FLOPs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import torch

from ...errors import ModelError
from ...settings import get_settings
from .loaded import LoadedModel
from .threads import on_batch_thread

CPU_TOKEN_BUDGET = 2048  # on the CPU, batches that stay in cache run fastest (bench/run.py: 1.4x over 8192)
ACCELERATOR_TOKEN_BUDGET = 16384  # a GPU wants wide batches to stay busy

Item = TypeVar("Item")
Result = TypeVar("Result")


def default_budget(device: torch.device | str | None) -> int:
    """Padded tokens per batch for this device, unless $LLM_DEMO_TOKEN_BUDGET sets it."""
    configured = get_settings().token_budget
    if configured:
        return configured
    return CPU_TOKEN_BUDGET if device is None or torch.device(device).type == "cpu" else ACCELERATOR_TOKEN_BUDGET


def token_budget_batches(
    lengths: Sequence[int], budget: int, max_rows: int = 256, order: Sequence[int] | None = None
) -> list[list[int]]:
    """Group indices, longest first (or in `order`), so that rows x longest row stays within `budget` padded tokens.

    Longest first makes an out-of-memory batch show up at once rather than at the end of a long run.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i]) if order is None else order
    batches: list[list[int]] = []
    current: list[int] = []
    widest = 0
    for index in order:
        width = max(widest, lengths[index], 1)
        if current and ((len(current) + 1) * width > budget or len(current) >= max_rows):
            batches.append(current)
            current, width = [], max(lengths[index], 1)
        current.append(index)
        widest = width
    if current:
        batches.append(current)
    return batches


# What torch's CPU allocator says when it cannot allocate (Linux and macOS, then Windows): a RuntimeError, where
# CUDA raises torch.OutOfMemoryError.
CPU_ALLOCATION_FAILED = ("can't allocate memory", "not enough memory")


def _is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(error, RuntimeError) and any(words in str(error) for words in CPU_ALLOCATION_FAILED)


def process_halving_on_oom(process: Callable[[list[Item]], list[Result]], items: list[Item]) -> list[Result]:
    """Run one batch (on the batch thread: threads.py); when memory runs out, on the CPU or an accelerator, split
    it in two and try again rather than fail the run."""
    try:
        return on_batch_thread(lambda: process(items))
    except Exception as error:
        if not _is_out_of_memory(error):
            raise
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if len(items) == 1:
            raise ModelError(
                "out_of_memory", "Out of memory even for a single row. Use shorter text or a smaller model."
            ) from error
        middle = len(items) // 2
        return process_halving_on_oom(process, items[:middle]) + process_halving_on_oom(process, items[middle:])


def run_in_batches(
    items: Sequence[Item],
    lengths: Sequence[int],
    process: Callable[[list[Item]], list[Result]],
    budget: int,
    max_rows: int = 256,
    order: Sequence[int] | None = None,
) -> Iterator[tuple[list[int], list[Result]]]:
    """Yield (input indices, results) batch by batch, so callers can report progress or stop early."""
    for batch in token_budget_batches(lengths, budget, max_rows, order):
        yield batch, process_halving_on_oom(process, [items[i] for i in batch])


def pad(sequences: Sequence[Sequence[int]], pad_id: int, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token ids to one width; returns (input_ids, attention_mask), shape (rows, longest)."""
    width = max(len(sequence) for sequence in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        span = slice(width - len(sequence), width) if left else slice(0, len(sequence))
        input_ids[row, span] = torch.as_tensor(sequence, dtype=torch.long)
        attention_mask[row, span] = 1
    return input_ids, attention_mask


def segment_ids(input_ids: torch.Tensor, sep_id: int | None) -> torch.Tensor:
    """BERT-style token type ids of (padded) encodings: 0 up to and including the first separator, 1 after it."""
    if sep_id is None:
        return torch.zeros_like(input_ids)
    is_sep = (input_ids == sep_id).long()
    return ((is_sep.cumsum(-1) - is_sep) > 0).long()


def encoder_inputs(loaded: LoadedModel, batch: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
    """Padded ids and mask on the model's device, plus segment ids where the model was trained with them.

    BERT and ELECTRA read the second text of a pair (a QA context, an NLI hypothesis) through a segment
    embedding; left at zero, the pair reads as one text. RoBERTa-like models have one segment and
    DistilBERT none, so they get no token_type_ids.
    """
    config, tokenizer = loaded.model.config, loaded.tokenizer
    input_ids, attention_mask = pad(batch, tokenizer.pad_token_id or 0)
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if getattr(config, "type_vocab_size", 0) > 1 and "token_type_ids" in tokenizer.model_input_names:
        inputs["token_type_ids"] = segment_ids(input_ids, tokenizer.sep_token_id) * attention_mask  # padding: 0
    return {name: tensor.to(loaded.device) for name, tensor in inputs.items()}
