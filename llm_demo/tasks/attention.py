"""Self-attention of an encoder: for every token, how it spreads its attention over the others,
per layer and head. Also the whole-text tokenizing that every "inside the model" view shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..batching import default_budget, in_input_order, pad, run_in_batches
from ..errors import InputError
from ..loading import LoadedModel

MAX_ATTENTION_TOKENS = 64  # beyond this a tokens x tokens heatmap is too dense to read


def encode_whole(loaded: LoadedModel, texts: list[str], limit: int, **options: Any) -> dict[str, list]:
    """Tokenize texts with the model's special tokens, refusing any over `limit` tokens.

    These views explain one whole text, so cutting it short silently would explain a different text.
    `options` go to the tokenizer (e.g. return_offsets_mapping=True).
    """
    encoded = loaded.tokenizer(texts, **options)
    for ids in encoded["input_ids"]:
        if len(ids) > limit:
            raise InputError("too_many_tokens", "The text is {tokens} tokens long; this view takes at most "
                             "{limit}. Use a shorter text.", tokens=len(ids), limit=limit)
    return encoded


@dataclass(frozen=True)
class AttentionMaps:
    """Attention weights of one text; row i of a map is how token i (the query) attends to every token."""

    tokens: list[str]
    weights: torch.Tensor  # (layers, heads, tokens, tokens), each row sums to 1

    @property
    def layers(self) -> int:
        return self.weights.shape[0]

    @property
    def heads(self) -> int:
        return self.weights.shape[1]

    def head(self, layer: int, head: int) -> torch.Tensor:
        """One head's (tokens, tokens) map; layer and head count from 0."""
        return self.weights[layer, head]

    def mean_over_heads(self, layer: int) -> torch.Tensor:
        return self.weights[layer].mean(dim=0)


def attention_maps(loaded: LoadedModel, texts: list[str], max_tokens: int = MAX_ATTENTION_TOKENS,
                   budget: int | None = None) -> list[AttentionMaps]:
    """Every layer's and head's attention for each text, in input order.

    The model must be loaded with attn_implementation="eager": fused SDPA kernels never form the
    weights, so they cannot return them.
    """
    if getattr(loaded.model.config, "_attn_implementation", "eager") != "eager":
        raise ValueError("attention_maps needs a model loaded with attn_implementation='eager'")
    limit = min(max_tokens, loaded.token_limit)
    token_ids = encode_whole(loaded, texts, limit)["input_ids"]

    def process(batch: list[list[int]]) -> list[AttentionMaps]:
        input_ids, attention_mask = pad(batch, loaded.tokenizer.pad_token_id or 0)
        with torch.inference_mode():
            output = loaded.model(input_ids=input_ids.to(loaded.device),
                                  attention_mask=attention_mask.to(loaded.device), output_attentions=True)
        weights = torch.stack(output.attentions, dim=1).float().cpu()  # (B, layers, heads, T, T)
        return [AttentionMaps(tokens=loaded.tokenizer.convert_ids_to_tokens(ids),
                              weights=weights[row, :, :, :len(ids), :len(ids)])
                for row, ids in enumerate(batch)]

    batches = run_in_batches(token_ids, [len(ids) for ids in token_ids], process,
                             budget or default_budget(loaded.device))
    return in_input_order(len(texts), batches)
