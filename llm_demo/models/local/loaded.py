"""A model whose weights are in this process, as the code that runs it sees it: weights, tokenizer, device,
dtype, and how many tokens it can read and write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


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
        limits = [
            limit
            for limit in (positions(self.model.config), self.tokenizer.model_max_length)
            if limit and limit < 10**7
        ]
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
PADDING_OFFSET_POSITIONS = {
    "roberta",
    "xlm-roberta",
    "xlm-roberta-xl",
    "camembert",
    "data2vec-text",
    "longformer",
    "mpnet",
    "ibert",
    "roberta-prelayernorm",
    "xmod",
    "luke",
    "esm",
}


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
