"""Choosing the next token of every row of a decoding step, each row with its own settings (greedy or sampled,
temperature, top-p, repetition penalty) and its own random stream, as transformers' generate() would for it alone."""

from __future__ import annotations

import random

import torch

from ..types import GenerationSettings


def seeded_generator(seed: int | None) -> torch.Generator:
    return torch.Generator().manual_seed(random.getrandbits(63) if seed is None else int(seed))


def penalise_repetition(logits: torch.Tensor, seen: list[torch.Tensor], penalties: list[float]) -> torch.Tensor:
    """CTRL's repetition penalty, as transformers applies it: seen tokens' logits shrink towards 'unlikely'."""
    for row, (ids, penalty) in enumerate(zip(seen, penalties)):
        if penalty != 1.0:
            scores = logits[row, ids]
            logits[row, ids] = torch.where(scores < 0, scores * penalty, scores / penalty)
    return logits


def keep_top_p(logits: torch.Tensor, top_p: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Mask all but the smallest set of tokens whose probability reaches top_p (per row), after top_k."""
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -float("inf"))
    ordered, order = logits.sort(dim=-1)  # ascending, as transformers' TopPLogitsWarper
    dropped = ordered.softmax(dim=-1).cumsum(dim=-1) <= 1 - top_p
    dropped[:, -1] = False  # the most likely token always stays
    return logits.masked_fill(dropped.scatter(1, order, dropped), -float("inf"))


def choose_tokens(
    logits: torch.Tensor,
    settings: list[GenerationSettings],
    generators: list[torch.Generator],
    seen: list[torch.Tensor],
    top_k: int | None,
) -> list[int]:
    """The next token of every row (B, V): greedy where temperature is 0, sampled from its own generator else.

    Runs on the CPU, where the requests' generators live; (B, V) floats are little to move.
    """
    logits = penalise_repetition(logits.float().cpu(), seen, [row.repetition_penalty for row in settings])
    greedy = logits.argmax(dim=-1).tolist()
    sampled = [row for row, chosen in enumerate(settings) if chosen.temperature > 0]
    if not sampled:
        return greedy
    rows = torch.tensor(sampled)
    temperature = torch.tensor([[float(settings[row].temperature)] for row in sampled])
    top_p = torch.tensor([[float(settings[row].top_p)] for row in sampled])
    probs = keep_top_p(logits[rows] / temperature, top_p, top_k).softmax(dim=-1)
    for index, row in enumerate(sampled):
        greedy[row] = int(torch.multinomial(probs[index], 1, generator=generators[row]))
    return greedy
