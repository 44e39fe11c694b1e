"""Self-attention of an encoder: for every token, how it spreads its attention over the others, per layer and
head. The model must be loaded with attn_implementation="eager": fused kernels never form the weights."""

from __future__ import annotations

from ..models import Model
from ..models.types import AttentionMaps

__all__ = ["MAX_ATTENTION_TOKENS", "AttentionMaps", "attention_maps"]

MAX_ATTENTION_TOKENS = 64  # beyond this a tokens x tokens heatmap is too dense to read


def attention_maps(
    model: Model, texts: list[str], max_tokens: int = MAX_ATTENTION_TOKENS, budget: int | None = None
) -> list[AttentionMaps]:
    """Every layer's and head's attention for each text, in input order."""
    return model.attention(texts, max_tokens, budget)
