"""Views that need the weights in this process: self-attention per layer and head, masked-word prediction,
and integrated gradients (which tokens a classifier's label rests on). Each explains one whole text, so a text
over the limit is refused rather than silently cut."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ...errors import InputError, ModelError
from ..types import AttentionMaps, Attribution, Filler, in_input_order, spans
from .batching import default_budget, pad, run_in_batches
from .classify import classify, label_names
from .loaded import LoadedModel
from .threads import on_batch_thread

MASK_SPELLINGS = ("[MASK]", "<mask>")  # BERT's and RoBERTa's; either is read as the model's own


def encode_whole(loaded: LoadedModel, texts: list[str], limit: int, **options: Any) -> dict[str, list]:
    """Tokenize texts with the model's special tokens, refusing any over `limit` tokens.

    These views explain one whole text, so cutting it short silently would explain a different text.
    `options` go to the tokenizer (e.g. return_offsets_mapping=True).
    """
    encoded = loaded.tokenizer(texts, **options)
    for ids in encoded["input_ids"]:
        if len(ids) > limit:
            raise InputError(
                "too_many_tokens",
                "The text is {tokens} tokens long; this view takes at most {limit}. Use a shorter text.",
                tokens=len(ids),
                limit=limit,
            )
    return encoded


def attention_maps(
    loaded: LoadedModel, texts: list[str], max_tokens: int, budget: int | None = None
) -> list[AttentionMaps]:
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
            output = loaded.model(
                input_ids=input_ids.to(loaded.device),
                attention_mask=attention_mask.to(loaded.device),
                output_attentions=True,
            )
        weights = torch.stack(output.attentions, dim=1).float().cpu()  # (B, layers, heads, T, T)
        return [
            AttentionMaps(
                tokens=loaded.tokenizer.convert_ids_to_tokens(ids), weights=weights[row, :, :, : len(ids), : len(ids)]
            )
            for row, ids in enumerate(batch)
        ]

    batches = run_in_batches(
        token_ids, [len(ids) for ids in token_ids], process, budget or default_budget(loaded.device)
    )
    return in_input_order(len(texts), batches)


# --- masked-word prediction


def mask_token(loaded: LoadedModel) -> str:
    token = loaded.tokenizer.mask_token
    if token is None:
        raise ModelError(
            "no_mask_token", "'{model}' has no mask token, so it cannot predict a hidden word.", model=loaded.model_id
        )
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
        raise InputError("no_mask", "Put the mask token {mask} where the hidden word goes.", mask=mask_token(loaded))
    if count > 1:
        raise InputError(
            "several_masks",
            "Use the mask token {mask} once; the text has it {count} times.",
            mask=mask_token(loaded),
            count=count,
        )
    return ids.index(loaded.tokenizer.mask_token_id)


def fill_mask(loaded: LoadedModel, texts: list[str], top_k: int, budget: int | None = None) -> list[list[Filler]]:
    """The `top_k` most probable tokens for the one mask in each text, most probable first, in input order."""
    token_ids = encode_whole(loaded, [with_model_mask(loaded, text) for text in texts], loaded.token_limit)["input_ids"]
    rows = [(ids, _mask_position(loaded, ids)) for ids in token_ids]
    tokenizer = loaded.tokenizer

    def fillers(ids: list[int], position: int, probabilities: torch.Tensor) -> list[Filler]:
        best = probabilities.topk(top_k)
        candidates = []
        for probability, token_id in zip(best.values.tolist(), best.indices.tolist()):
            filled = ids[:position] + [token_id] + ids[position + 1 :]
            candidates.append(
                Filler(
                    token=tokenizer.convert_ids_to_tokens(token_id),
                    word=tokenizer.decode([token_id]).strip(),
                    probability=probability,
                    text=tokenizer.decode(filled, skip_special_tokens=True),
                )
            )
        return candidates

    def process(batch: list[tuple[list[int], int]]) -> list[list[Filler]]:
        input_ids, attention_mask = pad([ids for ids, _ in batch], tokenizer.pad_token_id or 0)
        positions = torch.tensor([position for _, position in batch])
        with torch.inference_mode():
            logits = loaded.model(
                input_ids=input_ids.to(loaded.device), attention_mask=attention_mask.to(loaded.device)
            ).logits
        probabilities = logits[torch.arange(len(batch)), positions.to(logits.device)].float().softmax(-1).cpu()
        return [fillers(ids, position, row) for (ids, position), row in zip(batch, probabilities)]

    batches = run_in_batches(rows, [len(ids) for ids in token_ids], process, budget or default_budget(loaded.device))
    return in_input_order(len(texts), batches)


# --- why this label: integrated gradients


def _baseline_ids(loaded: LoadedModel, ids: list[int], special: list[int]) -> list[int]:
    """Every ordinary token replaced by padding, special tokens kept: "the same input with no words"."""
    pad_id = loaded.tokenizer.pad_token_id or 0
    return [token if is_special else pad_id for token, is_special in zip(ids, special)]


def _integration_points(steps: int) -> list[tuple[float, float]]:
    """Gauss-Legendre nodes and weights on [0, 1]: exact for polynomials of degree < 2 * steps."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return [(float(node + 1) / 2, float(weight) / 2) for node, weight in zip(nodes, weights)]


def explain(loaded: LoadedModel, text: str, steps: int, budget: int | None = None) -> Attribution:
    """Integrated gradients of the predicted label's logit (tasks/attribution.py says what they mean)."""
    encoded = encode_whole(
        loaded, [text], loaded.token_limit, return_offsets_mapping=True, return_special_tokens_mask=True
    )
    ids, offsets = encoded["input_ids"][0], encoded["offset_mapping"][0]
    prediction = in_input_order(1, classify(loaded, [text]))[0]
    target = label_names(loaded).index(prediction.label)
    baseline = _baseline_ids(loaded, ids, encoded["special_tokens_mask"][0])

    def embeddings_and_logits() -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            both = loaded.model.get_input_embeddings()(torch.tensor([ids, baseline], device=loaded.device))
            return both, loaded.model(inputs_embeds=both).logits[:, target].float().cpu()

    both, ends = on_batch_thread(embeddings_and_logits)  # (2, T, D) and (2,): the text, the baseline
    text_embeds, baseline_embeds = both[0], both[1]

    def weighted_gradients(points: list[tuple[float, float]]) -> list[torch.Tensor]:
        alphas = torch.tensor([alpha for alpha, _ in points], device=loaded.device, dtype=both.dtype)
        path = (baseline_embeds + alphas[:, None, None] * (text_embeds - baseline_embeds)).requires_grad_(True)
        with torch.enable_grad():
            logits = loaded.model(inputs_embeds=path).logits[:, target]
            gradients = torch.autograd.grad(logits.sum(), path)[0].float().cpu()  # (points, T, D)
        return [weight * gradient for (_, weight), gradient in zip(points, gradients)]

    points = _integration_points(steps)
    batches = run_in_batches(
        points, [len(ids)] * len(points), weighted_gradients, budget or default_budget(loaded.device)
    )
    integral = torch.stack([gradient for _, results in batches for gradient in results]).sum(dim=0)  # (T, D)
    scores = ((text_embeds - baseline_embeds).float().cpu() * integral).sum(dim=-1).tolist()
    return Attribution(
        prediction=prediction,
        tokens=loaded.tokenizer.convert_ids_to_tokens(ids),
        scores=scores,
        logit=float(ends[0]),
        baseline_logit=float(ends[1]),
        spans=spans(text, offsets, scores),
    )
