"""Extractive question answering with the weights here, with our own span decoding (transformers 5 has no QA
pipeline). Contexts longer than the model's window are cut into overlapping windows; every window proposes
spans, and the best spans over all windows of a question win."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import InputError
from ..types import Answer, Batches, QASettings
from .batching import default_budget, encoder_inputs, run_in_batches
from .loaded import LoadedModel


@dataclass(frozen=True)
class ContextWindow:
    """One slice of one question's context, ready for the model."""

    example: int
    input_ids: list[int]
    offsets: list[tuple[int, int]]  # character span of each token in the context
    context_mask: list[bool]  # which tokens belong to the context


def span_scores(
    start_logits: torch.Tensor, end_logits: torch.Tensor, context_mask: torch.Tensor, max_answer_tokens: int
) -> tuple[torch.Tensor, float]:
    """Probability of every (start, end) context span in one window, and of "no answer" (the first token).

    Returns a (tokens, tokens) matrix that is zero where end < start, the span is too long,
    or either end lies outside the context.
    """
    allowed = context_mask.clone()
    allowed[0] = True  # the [CLS] position is how SQuAD2 models say "no answer"
    start = start_logits.float().masked_fill(~allowed, float("-inf")).softmax(-1)
    end = end_logits.float().masked_fill(~allowed, float("-inf")).softmax(-1)
    null_score = float(start[0] * end[0])
    scores = start[:, None] * end[None, :]
    scores = torch.triu(scores) - torch.triu(scores, diagonal=max_answer_tokens)
    scores = scores * (context_mask[:, None] & context_mask[None, :])
    return scores, null_score


def best_spans(scores: torch.Tensor, k: int) -> list[tuple[int, int, float]]:
    """The k highest-scoring (start token, end token, score) spans of a span matrix."""
    flat = scores.flatten()
    k = min(k, int((flat > 0).sum()))
    values, positions = flat.topk(k) if k else (flat[:0], flat[:0].long())
    width = scores.shape[1]
    return [(int(p) // width, int(p) % width, float(v)) for p, v in zip(positions, values)]


def rank_answers(
    context: str, windows: list[tuple[ContextWindow, torch.Tensor, torch.Tensor]], settings: QASettings
) -> list[Answer]:
    """Merge the spans proposed by all windows of one question into its top-k answers."""
    by_span: dict[tuple[int, int], float] = {}
    null_scores = []
    for window, start_logits, end_logits in windows:
        mask = torch.tensor(window.context_mask)
        scores, null_score = span_scores(start_logits, end_logits, mask, settings.max_answer_tokens)
        null_scores.append(null_score)
        for start, end, score in best_spans(scores, settings.top_k):
            span = (window.offsets[start][0], window.offsets[end][1])
            by_span[span] = max(score, by_span.get(span, 0.0))
    answers = [Answer(context[s:e], score, s, e) for (s, e), score in by_span.items()]
    if settings.allow_no_answer:
        answers.append(Answer("", min(null_scores), 0, 0))
    answers.sort(key=lambda answer: -answer.score)
    return answers[: settings.top_k] or [Answer("", 0.0, 0, 0)]


def make_windows(
    loaded: LoadedModel, questions: list[str], contexts: list[str], settings: QASettings
) -> list[ContextWindow]:
    """Tokenize each (question, context) into overlapping windows of at most `max_length` tokens."""
    tokenizer = loaded.tokenizer
    max_length = min(settings.max_length, loaded.token_limit)
    longest_question = max(len(ids) for ids in tokenizer(questions)["input_ids"])
    if longest_question > max_length // 2:
        raise InputError("question_too_long", "The question is too long for this model; shorten it.")
    stride = min(settings.stride, max(0, max_length - longest_question - 8))
    encoded = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    windows = []
    for index, input_ids in enumerate(encoded["input_ids"]):
        sequence_ids = encoded.sequence_ids(index)
        windows.append(
            ContextWindow(
                example=encoded["overflow_to_sample_mapping"][index],
                input_ids=input_ids,
                offsets=[tuple(span) for span in encoded["offset_mapping"][index]],
                context_mask=[sequence_id == 1 for sequence_id in sequence_ids],
            )
        )
    return windows


def forward_windows(
    loaded: LoadedModel, batch: list[ContextWindow]
) -> list[tuple[ContextWindow, torch.Tensor, torch.Tensor]]:
    with torch.inference_mode():
        output = loaded.model(**encoder_inputs(loaded, [window.input_ids for window in batch]))
    starts, ends = output.start_logits.float().cpu(), output.end_logits.float().cpu()
    return [
        (window, starts[row, : len(window.input_ids)], ends[row, : len(window.input_ids)])
        for row, window in enumerate(batch)
    ]


def answer(
    loaded: LoadedModel,
    questions: list[str],
    contexts: list[str],
    settings: QASettings = QASettings(),
    budget: int | None = None,
) -> Batches:
    """Answers batch by batch as (question indices, answers); a batch holds all windows of its questions."""
    windows = make_windows(loaded, questions, contexts, settings)
    per_question: list[list[ContextWindow]] = [[] for _ in questions]
    for window in windows:
        per_question[window.example].append(window)

    def process(batch: list[list[ContextWindow]]) -> list[list[Answer]]:
        scored = forward_windows(loaded, [window for group in batch for window in group])
        answers, taken = [], 0
        for group in batch:
            example = group[0].example
            answers.append(rank_answers(contexts[example], scored[taken : taken + len(group)], settings))
            taken += len(group)
        return answers

    lengths = [sum(len(window.input_ids) for window in group) for group in per_question]
    return run_in_batches(per_question, lengths, process, budget or default_budget(loaded.device))
