"""Masked-word prediction, the objective BERT-style models are pre-trained on: hide a word, ask for it."""

from __future__ import annotations

from ..errors import ModelError
from ..inputs import check_range
from ..models import Model
from ..models.types import Filler

__all__ = ["Filler", "fill_mask", "mask_token"]


def mask_token(model: Model) -> str:
    """The model's own mask token, which the UI shows the user to type."""
    if model.mask_token is None:
        raise ModelError(
            "no_mask_token", "'{model}' has no mask token, so it cannot predict a hidden word.", model=model.model_id
        )
    return model.mask_token


def fill_mask(model: Model, texts: list[str], top_k: int = 5, budget: int | None = None) -> list[list[Filler]]:
    """The `top_k` most probable tokens for the one mask in each text ([MASK] and <mask> both read as the
    model's own), most probable first, in input order."""
    return model.fill_mask(texts, int(check_range("Top-k", top_k, 1, 50)), budget)
