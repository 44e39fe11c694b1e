"""Extractive QA: span decoding on hand-made logits, long contexts across windows, real tiny model."""

from __future__ import annotations

import pytest
import torch

from llm_demo.errors import InputError
from llm_demo.models.local.qa import ContextWindow, make_windows, rank_answers, span_scores
from llm_demo.tasks.qa import QASettings, answer

BIG, SMALL = 10.0, -10.0


def _logits(size: int, start: int, end: int, null: float = SMALL) -> tuple[torch.Tensor, torch.Tensor]:
    starts, ends = torch.full((size,), SMALL), torch.full((size,), SMALL)
    starts[start], ends[end] = BIG, BIG
    starts[0], ends[0] = null, null
    return starts, ends


def _window(example: int, context_tokens: list[tuple[int, int]]) -> ContextWindow:
    """[CLS] q [SEP] <context tokens> [SEP]: the context starts at position 3."""
    offsets = [(0, 0)] * 3 + context_tokens + [(0, 0)]
    mask = [False] * 3 + [True] * len(context_tokens) + [False]
    return ContextWindow(example=example, input_ids=list(range(len(offsets))), offsets=offsets, context_mask=mask)


CONTEXT = "alpha beta gamma delta epsilon"
TOKENS = [(0, 5), (6, 10), (11, 16), (17, 22), (23, 30)]


def test_the_highest_scoring_span_is_chosen():
    window = _window(0, TOKENS)
    starts, ends = _logits(len(window.input_ids), start=4, end=5)  # beta .. gamma
    [best] = rank_answers(CONTEXT, [(window, starts, ends)], QASettings())
    assert (best.text, best.start, best.end) == ("beta gamma", 6, 16)
    assert best.score == pytest.approx(1.0, abs=1e-3)


def test_spans_outside_the_context_or_reversed_are_never_chosen():
    window = _window(0, TOKENS)
    starts, ends = _logits(len(window.input_ids), start=1, end=2)  # question tokens
    starts[5], ends[4] = 5.0, 5.0  # best remaining start after best end: reversed
    starts[6], ends[6] = 4.0, 4.0
    [best] = rank_answers(CONTEXT, [(window, starts, ends)], QASettings())
    assert best.text == "gamma delta"  # start 5 (gamma) with the best end after it (6, delta)


def test_max_answer_length_cuts_long_spans():
    window = _window(0, TOKENS)
    starts, ends = _logits(len(window.input_ids), start=3, end=7)  # alpha .. epsilon, five tokens
    scores, _ = span_scores(starts, ends, torch.tensor(window.context_mask), max_answer_tokens=2)
    assert scores[3, 7] == 0 and scores[3, 4] > 0 and scores[3, 5] == 0


def test_no_answer_wins_when_the_null_score_is_best_and_allowed():
    window = _window(0, TOKENS)
    starts, ends = _logits(len(window.input_ids), start=4, end=4, null=20.0)
    answers = rank_answers(CONTEXT, [(window, starts, ends)], QASettings(top_k=2, allow_no_answer=True))
    assert answers[0].is_empty and answers[0].score > answers[1].score
    [forced] = rank_answers(CONTEXT, [(window, starts, ends)], QASettings(allow_no_answer=False))
    assert forced.text == "beta"


def test_answer_found_in_the_second_window_of_a_long_context():
    context = "zero one two three four five six seven"
    first = _window(0, [(0, 4), (5, 8), (9, 12), (13, 18)])
    second = _window(0, [(9, 12), (13, 18), (19, 23), (24, 28), (29, 32), (33, 38)])
    weak = torch.zeros(len(first.input_ids))  # the first window has no confident span
    starts, ends = _logits(len(second.input_ids), start=6, end=7)  # "five six"
    answers = rank_answers(context, [(first, weak, weak), (second, starts, ends)], QASettings(top_k=2))
    assert answers[0].text == "five six"
    assert answers[0].score > answers[1].score


def test_overlapping_windows_report_a_span_once():
    context = "zero one two three"
    first = _window(0, [(0, 4), (5, 8), (9, 12)])
    second = _window(0, [(5, 8), (9, 12), (13, 18)])
    s1, e1 = _logits(len(first.input_ids), start=4, end=4)  # "one" in window one
    s2, e2 = _logits(len(second.input_ids), start=3, end=3)  # "one" in window two
    answers = rank_answers(context, [(first, s1, e1), (second, s2, e2)], QASettings(top_k=5))
    assert [a.text for a in answers].count("one") == 1


def test_long_context_is_split_into_overlapping_windows(load):
    loaded = load("qa", "Tiny BERT QA", "question-answering")
    context = " ".join(f"word{i}" for i in range(400))
    windows = make_windows(loaded, ["which word?"], [context], QASettings(max_length=64, stride=16))
    assert len(windows) > 5
    first_end = max(end for (start, end), inside in zip(windows[0].offsets, windows[0].context_mask) if inside)
    second_start = min(start for (start, end), inside in zip(windows[1].offsets, windows[1].context_mask) if inside)
    assert second_start < first_end  # neighbours overlap by the stride


def test_answers_are_spans_of_the_context_and_batching_changes_nothing(load):
    loaded = load("qa", "Tiny BERT QA", "question-answering")
    questions = ["Where?", "When was it built?", "谁？"]
    contexts = ["Paris is in France. " * 40, "It was built in 1889.", "长城在中国北方。"]
    settings = QASettings(top_k=3, max_length=64, stride=16)
    batched = answer(loaded, questions, contexts, settings, budget=128)
    for question, context, many in zip(questions, contexts, batched):
        [one] = answer(loaded, [question], [context], settings)
        assert [(a.text, a.start, a.end) for a in many] == [(a.text, a.start, a.end) for a in one]
        assert [a.score for a in many] == pytest.approx([a.score for a in one], abs=1e-5)
        for found in many:
            assert context[found.start : found.end] == found.text


def test_a_question_longer_than_the_window_is_refused(load):
    loaded = load("qa", "Tiny BERT QA", "question-answering")
    with pytest.raises(InputError) as raised:
        answer(loaded, ["why " * 100], ["context"], QASettings(max_length=64))
    assert raised.value.key == "question_too_long"
