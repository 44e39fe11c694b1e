"""Sequence salience (as LIT shows it for generation): the gradient of a span of the answer's log-probability with
respect to each earlier token's embedding, dotted with that embedding (gradient x input). One forward and one
backward pass over the prompt and the answer up to the span's end."""

from __future__ import annotations

import torch

from ...errors import InputError
from ..types import SequenceSalience, as_messages
from .generate import uses_chat_template
from .loaded import LoadedModel
from .threads import on_batch_thread


def read_before_answer(loaded: LoadedModel, prompt: str) -> tuple[str, tuple[int, int]]:
    """What the model reads before its answer, as text, and where the prompt stands in it: the prompt inside the
    chat template where the model has one, as generation wraps it (generate.prompt_ids)."""
    if not uses_chat_template(loaded):
        return prompt, (0, len(prompt))
    head = loaded.tokenizer.apply_chat_template(as_messages(prompt), add_generation_prompt=True, tokenize=False)
    start = head.rfind(prompt)
    return head, (start, start + len(prompt)) if start >= 0 else (0, len(head))


def _tokens(loaded: LoadedModel, text: str, special: bool) -> tuple[list[int], list[tuple[int, int]]]:
    encoded = loaded.tokenizer(text, add_special_tokens=special, return_offsets_mapping=True)
    return list(encoded["input_ids"]), [tuple(span) for span in encoded["offset_mapping"]]


def _span_tokens(offsets: list[tuple[int, int]], span: tuple[int, int]) -> list[int]:
    """The answer's tokens that share a character with the span."""
    return [index for index, (start, end) in enumerate(offsets) if end > start and end > span[0] and start < span[1]]


def _gradient_x_input(loaded: LoadedModel, ids: list[int], first: int) -> tuple[list[float], float]:
    """Each token before position `first` scored by d(sum of log p(token t) for t >= first)/d e_i . e_i, and
    that sum."""
    table = loaded.model.get_input_embeddings()
    with torch.no_grad():
        embeds = table(torch.tensor([ids], device=loaded.device))
    embeds.requires_grad_(True)
    targets = torch.tensor(ids[first:], device=loaded.device)
    with torch.enable_grad():
        logits = loaded.model(inputs_embeds=embeds).logits[0, first - 1 : -1].float()  # each predicts the next
        total = logits.log_softmax(-1).gather(-1, targets[:, None]).sum()
        (gradient,) = torch.autograd.grad(total, embeds)
    scores = (gradient[0, :first] * embeds[0, :first].detach()).float().sum(-1).cpu()
    return scores.tolist(), float(total.detach())


def salience(loaded: LoadedModel, prompt: str, answer: str, span: tuple[int, int]) -> SequenceSalience:
    """Gradient x input of the log-probability of the answer's tokens that cover `span` (characters of the
    answer). When everything does not fit the model's window, the start of the prompt is left out, as it would
    have been for the model writing the answer."""
    head, prompt_span = read_before_answer(loaded, prompt)
    head_ids, head_offsets = _tokens(loaded, head, special=not uses_chat_template(loaded))
    answer_ids, answer_offsets = _tokens(loaded, answer, special=False)
    chosen = _span_tokens(answer_offsets, span)
    if not chosen:
        raise InputError("no_span", "Select some text of the answer to explain.")
    ids = head_ids + answer_ids[: chosen[-1] + 1]
    offsets = head_offsets + [(start + len(head), end + len(head)) for start, end in answer_offsets]
    first = len(head_ids) + chosen[0]
    cut = max(0, len(ids) - loaded.token_limit)
    if first - cut < 1:
        raise InputError(
            "span_too_long",
            "The selected span and what comes before it do not fit the model's window of {window} tokens; "
            "select a shorter span.",
            window=loaded.token_limit,
        )
    scores, total = on_batch_thread(lambda: _gradient_x_input(loaded, ids[cut:], first - cut))
    return SequenceSalience(
        text=head + answer,
        prompt=prompt_span,
        answer_start=len(head),
        target=(offsets[first][0], offsets[len(head_ids) + chosen[-1]][1]),
        offsets=offsets[cut:first],
        scores=scores,
        target_tokens=len(chosen),
        target_logprob=total,
        cut_tokens=cut,
    )
