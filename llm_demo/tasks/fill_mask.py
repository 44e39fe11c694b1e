"""Masked-word prediction, the objective BERT-style models are pre-trained on: hide a word, ask for it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..batching import default_budget, in_input_order, pad, run_in_batches
from ..errors import InputError, ModelError
from ..loading import LoadedModel
from .attention import encode_whole
from .inputs import check_range

MASK_SPELLINGS = ("[MASK]", "<mask>")  # BERT's and RoBERTa's; either is read as the model's own


@dataclass(frozen=True)
class Filler:
    """One candidate for the masked position."""

    token: str  # the vocabulary entry, e.g. "##ing" or "▁Paris"; distinct between candidates
    word: str  # how the token reads in text
    probability: float
    text: str  # the sentence with this candidate in place of the mask


def mask_token(loaded: LoadedModel) -> str:
    token = loaded.tokenizer.mask_token
    if token is None:
        raise ModelError("no_mask_token", "'{model}' has no mask token, so it cannot predict a hidden word.",
                         model=loaded.model_id)
    return token


def with_model_mask(loaded: LoadedModel, text: str) -> str:
    """The text with any common mask spelling replaced by this model's own mask token."""
    mask = mask_token(loaded)
    for spelling in MASK_SPELLINGS:
        text = text.replace(spelling, mask)
    return text


def _mask_position(loaded: LoadedModel, ids: list[int]) -> int:
    count = ids.count(loaded.tokenizer.mask_token_id)
    if count == 0:
        raise InputError("no_mask", "Put the mask token {mask} where the hidden word goes.",
                         mask=mask_token(loaded))
    if count > 1:
        raise InputError("several_masks", "Use the mask token {mask} once; the text has it {count} times.",
                         mask=mask_token(loaded), count=count)
    return ids.index(loaded.tokenizer.mask_token_id)


def fill_mask(loaded: LoadedModel, texts: list[str], top_k: int = 5, budget: int | None = None) -> list[list[Filler]]:
    """The `top_k` most probable tokens for the one mask in each text, most probable first, in input order."""
    top_k = int(check_range("Top-k", top_k, 1, 50))
    token_ids = encode_whole(loaded, [with_model_mask(loaded, text) for text in texts], loaded.token_limit)["input_ids"]
    rows = [(ids, _mask_position(loaded, ids)) for ids in token_ids]
    tokenizer = loaded.tokenizer

    def fillers(ids: list[int], position: int, probabilities: torch.Tensor) -> list[Filler]:
        best = probabilities.topk(top_k)
        candidates = []
        for probability, token_id in zip(best.values.tolist(), best.indices.tolist()):
            filled = ids[:position] + [token_id] + ids[position + 1:]
            candidates.append(Filler(token=tokenizer.convert_ids_to_tokens(token_id),
                                     word=tokenizer.decode([token_id]).strip(), probability=probability,
                                     text=tokenizer.decode(filled, skip_special_tokens=True)))
        return candidates

    def process(batch: list[tuple[list[int], int]]) -> list[list[Filler]]:
        input_ids, attention_mask = pad([ids for ids, _ in batch], tokenizer.pad_token_id or 0)
        positions = torch.tensor([position for _, position in batch])
        with torch.inference_mode():
            logits = loaded.model(input_ids=input_ids.to(loaded.device),
                                  attention_mask=attention_mask.to(loaded.device)).logits
        probabilities = logits[torch.arange(len(batch)), positions.to(logits.device)].float().softmax(-1).cpu()
        return [fillers(ids, position, row) for (ids, position), row in zip(batch, probabilities)]

    batches = run_in_batches(rows, [len(ids) for ids in token_ids], process, budget or default_budget(loaded.device))
    return in_input_order(len(texts), batches)
